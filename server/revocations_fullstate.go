package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"golang.org/x/sync/singleflight"

	"github.com/keyward/keyward/verifier"
)

// FullStateMaxAge is the longest a server answers requests for the
// revocation feed's full state (GET /revocations?since=0, a cursor compacted
// away or unknown, or GET /revocations without since) with one encoding of
// it while the log's head and floor stay the same. Within it, however many
// such requests arrive, the store is read and the state encoded once: a
// flood of full-state requests costs the issuer a copy of the answer each,
// not a read of every revocation. A change to the log (a new head, or a
// floor raised by compaction) ends it at once, so no answer misses a
// revocation the log held when the request was read; the bound only keeps
// entries that have expired since from lingering in the answer (verifiers
// drop them anyway) and generated_at close to now.
const FullStateMaxAge = time.Second

// fullStateReadTimeout bounds the shared read of a full state, which no
// single request's end cancels.
const fullStateReadTimeout = 30 * time.Second

// fullStateCache holds the last full state of the feed, encoded, with the
// log's head and floor read before it. Concurrent requests for a state not
// held share one read of the store.
type fullStateCache struct {
	mu    sync.Mutex
	state *fullState // nil: none yet
	group singleflight.Group
}

// fullState is one full state of the feed, in both of its answers.
type fullState struct {
	head, floor int64
	at          time.Time // the feed clock's time when it was read
	// delta is the answer to GET /revocations?since=: the state, with
	// "full": true and the head as its cursor, and a final newline.
	delta []byte
	// list is the answer to GET /revocations, without cursor, with a final
	// newline; etag covers its entries, not generated_at.
	list []byte
	etag string
}

// fullState returns the full state of the feed at the log's head and floor
// (read by the caller before this call), from the cache when it holds that
// head and floor and is less than [FullStateMaxAge] old at now; otherwise
// read from the store, once for all the requests that ask meanwhile, on a
// context that the caller leaving does not end (bounded by
// [fullStateReadTimeout]); a caller that leaves stops waiting for it.
func (s *Server) fullState(ctx context.Context, lister RevocationLister, head, floor int64, now time.Time) (*fullState, error) {
	c := &s.fullStates
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st != nil && st.head == head && st.floor == floor && !now.Before(st.at) && now.Sub(st.at) < FullStateMaxAge {
		return st, nil
	}
	key := strconv.FormatInt(head, 10) + "/" + strconv.FormatInt(floor, 10)
	ch := c.group.DoChan(key, func() (any, error) {
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fullStateReadTimeout)
		defer cancel()
		st, err := encodeFullState(readCtx, lister, head, floor, now)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		// A read at an older head, finished late, does not replace a
		// newer one.
		if c.state == nil || head > c.state.head || head == c.state.head && (floor > c.state.floor || floor == c.state.floor && now.After(c.state.at)) {
			c.state = st
		}
		return st, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*fullState), nil
	}
}

// encodeFullState reads the full state from the store as of now and
// encodes both of its answers.
func encodeFullState(ctx context.Context, lister RevocationLister, head, floor int64, now time.Time) (*fullState, error) {
	feed, err := revocationState(ctx, lister, now)
	if err != nil {
		return nil, err
	}
	entries, err := json.Marshal(struct {
		Tokens   []verifier.RevokedToken   `json:"tokens"`
		Sessions []verifier.RevokedSession `json:"sessions"`
		Families []verifier.RevokedFamily  `json:"families"`
		Users    []verifier.RevokedUser    `json:"users"`
	}{feed.Tokens, feed.Sessions, feed.Families, feed.Users}, json.Deterministic(true))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(entries)
	st := &fullState{head: head, floor: floor, at: now, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
	if st.list, err = json.Marshal(feed, json.Deterministic(true)); err != nil {
		return nil, err
	}
	feed.Cursor, feed.Full = strconv.FormatInt(head, 10), true
	if st.delta, err = json.Marshal(feed, json.Deterministic(true)); err != nil {
		return nil, err
	}
	st.list, st.delta = append(st.list, '\n'), append(st.delta, '\n')
	return st, nil
}
