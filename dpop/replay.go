package dpop

import (
	"container/heap"
	"crypto/sha256"
	"sync"
)

// replayCache remembers the (key thumbprint, jti) pairs of accepted proofs
// until each proof's "iat" leaves the window, after which the proof is
// refused as too old anyway. It holds at most size pairs; when all of them
// are still inside the window it refuses to take more rather than forget
// one, since a forgotten pair is a proof that can be replayed. Pairs are
// kept as SHA-256 hashes, so an entry costs the same whatever the sender
// puts in "jti".
type replayCache struct {
	size int

	mu     sync.Mutex
	seen   map[[sha256.Size]byte]struct{}
	expiry expiryHeap // the same pairs, soonest expiry first
}

type replayEntry struct {
	key [sha256.Size]byte
	exp int64 // Unix nanoseconds after which the pair may be forgotten
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []replayEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newReplayCache(size int) *replayCache {
	return &replayCache{size: size, seen: make(map[[sha256.Size]byte]struct{})}
}

// replayKey hashes a (thumbprint, jti) pair; the thumbprint has a fixed
// length, so the concatenation is unambiguous.
func replayKey(jkt, jti string) [sha256.Size]byte {
	var buf [256]byte
	b := append(append(append(buf[:0], jkt...), 0), jti...)
	return sha256.Sum256(b)
}

// add records the pair until exp (Unix nanoseconds), first forgetting the
// pairs expired at now. It returns ErrReplay when the pair is already
// there and ErrReplayCacheFull when the cache holds size live pairs.
func (c *replayCache) add(jkt, jti string, now, exp int64) error {
	k := replayKey(jkt, jti)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.expiry) > 0 && c.expiry[0].exp < now {
		e := heap.Pop(&c.expiry).(replayEntry)
		delete(c.seen, e.key)
	}
	if _, ok := c.seen[k]; ok {
		return ErrReplay
	}
	if len(c.seen) >= c.size {
		return ErrReplayCacheFull
	}
	c.seen[k] = struct{}{}
	heap.Push(&c.expiry, replayEntry{key: k, exp: exp})
	return nil
}

// len returns the number of pairs held, expired ones included until the
// next add.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
