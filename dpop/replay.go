package dpop

import (
	"container/heap"
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// replayCache remembers the (key thumbprint, jti) pairs of accepted proofs
// until each proof's "iat" leaves the window, after which the proof is
// refused as too old anyway. It holds at most size pairs; when all of them
// are still inside the window it refuses to take more rather than forget
// one, since a forgotten pair is a proof that can be replayed. Pairs are
// kept as SHA-256 hashes, so an entry costs the same whatever the sender
// puts in "jti".
//
// Once the cache is half full, no one key may hold more than quota of the
// pairs: past it, that key's new proofs are refused with a
// [KeyQuotaError] while other keys' are still taken, so that one client
// (the holder of one bound token) cannot fill the cache and have everyone
// refused. Below half full the quota does not apply, so a busy client
// sending with one key is not slowed while the cache has room. The per-key counts live and
// die with their pairs, so they take no more room than the pairs do.
type replayCache struct {
	size, quota int

	mu     sync.Mutex
	seen   map[[sha256.Size]byte]struct{}
	expiry expiryHeap             // the same pairs, soonest expiry first
	keys   map[string]*keyEntries // per key thumbprint, its pairs' expiries
}

// keyEntries holds the expiries of one key's pairs in a min-heap
// (container/heap): its length is the key's count, its first element when
// the key's next pair leaves the cache.
type keyEntries struct {
	jkt  string
	exps []int64
}

func (h *keyEntries) Len() int           { return len(h.exps) }
func (h *keyEntries) Less(i, j int) bool { return h.exps[i] < h.exps[j] }
func (h *keyEntries) Swap(i, j int)      { h.exps[i], h.exps[j] = h.exps[j], h.exps[i] }
func (h *keyEntries) Push(x any)         { h.exps = append(h.exps, x.(int64)) }
func (h *keyEntries) Pop() any {
	e := h.exps[len(h.exps)-1]
	h.exps = h.exps[:len(h.exps)-1]
	return e
}

type replayEntry struct {
	key   [sha256.Size]byte
	owner *keyEntries // the pair's key
	exp   int64       // Unix nanoseconds after which the pair may be forgotten
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

func newReplayCache(size, quota int) *replayCache {
	return &replayCache{
		size:  size,
		quota: quota,
		seen:  make(map[[sha256.Size]byte]struct{}),
		keys:  make(map[string]*keyEntries),
	}
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
// there, ErrReplayCacheFull when the cache holds size live pairs, and a
// [KeyQuotaError] when jkt holds quota of them and the cache is at least
// half full.
func (c *replayCache) add(jkt, jti string, now, exp int64) error {
	k := replayKey(jkt, jti)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.expiry) > 0 && c.expiry[0].exp < now {
		e := heap.Pop(&c.expiry).(replayEntry)
		delete(c.seen, e.key)
		// The pairs leave in order of expiry, so the one leaving is the
		// soonest of its key's too.
		heap.Pop(e.owner)
		if e.owner.Len() == 0 {
			delete(c.keys, e.owner.jkt)
		}
	}
	if _, ok := c.seen[k]; ok {
		return ErrReplay
	}
	if len(c.seen) >= c.size {
		return ErrReplayCacheFull
	}
	ke := c.keys[jkt]
	if ke != nil && ke.Len() >= c.quota && len(c.seen) >= c.size/2 {
		// The key's soonest pair leaves the cache once now passes its
		// expiry.
		return &KeyQuotaError{RetryAfter: time.Duration(ke.exps[0] - now + 1)}
	}
	if ke == nil {
		ke = &keyEntries{jkt: strings.Clone(jkt)} // not a part of a larger string
		c.keys[ke.jkt] = ke
	}
	heap.Push(ke, exp)
	c.seen[k] = struct{}{}
	heap.Push(&c.expiry, replayEntry{key: k, owner: ke, exp: exp})
	return nil
}

// len returns the number of pairs held, expired ones included until the
// next add.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// keyLen returns the number of pairs jkt holds, expired ones included
// until the next add.
func (c *replayCache) keyLen(jkt string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ke := c.keys[jkt]; ke != nil {
		return ke.Len()
	}
	return 0
}
