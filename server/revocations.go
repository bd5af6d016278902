package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/verifier"
)

// RevocationLister gives the revocations that the feed publishes; every
// [keyward.Store] is one.
type RevocationLister interface {
	// ListRevokedTokens returns the access-token revocations whose expiry
	// is after now.
	ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error)
	// ListUserRevocations returns every user cutoff.
	ListUserRevocations(ctx context.Context) ([]keyward.UserRevocation, error)
	// ListRevokedGrants returns the session and refresh-token family
	// revocations whose expiry is after now.
	ListRevokedGrants(ctx context.Context, now time.Time) ([]keyward.RevokedGrant, error)
	// RevocationLogHead returns the revocation log's latest Seq and floor.
	RevocationLogHead(ctx context.Context) (head, floor int64, err error)
	// ListRevocationChanges returns at most limit changes after since.
	ListRevocationChanges(ctx context.Context, since int64, limit int) ([]keyward.RevocationChange, error)
}

// MaxRevocationChanges is the most changes one answer to GET
// /revocations?since= carries; an answer cut there says "more": true and
// the verifier asks again at once from its cursor. It bounds the answer's
// size (about 100 KiB) whatever the backlog.
const MaxRevocationChanges = 1000

// MaxRevocationWait is the longest wait a long-poll (GET
// /revocations?since=C&wait=N) may ask for, in seconds; a longer wait is
// cut to it. It stays below the idle timeouts of common proxies.
const MaxRevocationWait = 25

// MaxRevocationWaiters is the most long-polls one server holds at once, of
// all clients ([MaxRevocationWaitersPerClient] of each client network);
// beyond it a long-poll is answered at once, as without wait, and the
// verifier falls back to its polling interval, unless a network holding two
// more than the client's gives one up to it. Each held request costs a
// goroutine and one indexed read of the log head per
// [RevocationRecheck], so the cap bounds what verifiers can make the issuer
// spend.
const MaxRevocationWaiters = 4096

// RevocationRecheck is how often a held long-poll looks at the revocation
// log's head: a change written by this process, by another replica or by
// another process on the same database file is seen within it and half of
// it more. The held long-polls of one server share one read of the head
// per half of it, so their cost to the store is one indexed read every
// 125 ms whatever their number.
const RevocationRecheck = 250 * time.Millisecond

// errBadWait answers a wait parameter that is not a number of seconds.
var errBadWait = &keyward.Error{Code: keyward.EINVALID, Message: "wait must be a number of seconds (a decimal number), given once, with since"}

// errBadCursor answers a since parameter that is not a cursor.
var errBadCursor = &keyward.Error{Code: keyward.EINVALID, Message: "since must be a cursor of this feed (a decimal number), given once"}

// revocations serves GET /revocations, the revocation feed that verifiers
// poll (verifier.RevocationList): the access tokens revoked before their
// expiry, by jti; the sessions and refresh-token families revoked, by the
// sid and fid their access tokens carry, until those tokens have expired;
// and the users whose tokens issued before a cutoff are revoked. It needs no
// authentication: it reveals only the jtis of revoked tokens, the IDs of
// revoked sessions and families, and the IDs of users whose tokens were
// revoked. The ETag covers the
// entries, not generated_at, so an unchanged feed answers 304.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) error {
	lister := s.cfg.Revocations
	if lister == nil {
		return errNoFeed
	}
	now := time.Now
	if s.cfg.Now != nil {
		now = s.cfg.Now
	}
	if q := r.URL.Query(); q.Has("since") {
		since, ok := parseCursor(q["since"])
		if !ok {
			return errBadCursor
		}
		if q.Has("wait") {
			wait, ok := parseCursor(q["wait"])
			if !ok {
				return errBadWait
			}
			if err := s.awaitRevocation(w, r, lister, since, time.Duration(min(wait, MaxRevocationWait))*time.Second); err != nil {
				return err
			}
			if r.Context().Err() != nil {
				// The client left or the server is shutting down: no
				// change, without reading the store again.
				feed := emptyFeed(now(), 0, 0)
				feed.Cursor = strconv.FormatInt(since, 10)
				return writeFeed(w, r, feed)
			}
		}
		return s.writeRevocationChanges(w, r, lister, since, now())
	} else if q.Has("wait") {
		return errBadWait
	}
	return s.writeRevocations(w, r, lister, now())
}

// awaitRevocation holds a long-poll until the revocation log has a change
// after since, the wait ends or the client leaves, re-reading the log's head
// every [RevocationRecheck]. It returns at once when since asks for the
// full state (below the floor, past the head; 0 on a log with changes), when
// changes already wait, or when the client's network holds
// [MaxRevocationWaitersPerClient] or the server [MaxRevocationWaiters]
// long-polls. It extends the answer's
// write deadline past the wait, so a server whose write timeout is shorter
// than the wait still answers.
func (s *Server) awaitRevocation(w http.ResponseWriter, r *http.Request, lister RevocationLister, since int64, wait time.Duration) error {
	ctx := r.Context()
	head, floor, err := lister.RevocationLogHead(ctx)
	if err != nil {
		return err
	}
	if wait <= 0 || since < floor || since != head {
		return nil
	}
	release, preempted := s.holdRevocation(r)
	if release == nil {
		return nil
	}
	defer release()
	// Taken before the head is read again, so a wake-up after the read is
	// not missed.
	woken := s.heads.woken()
	// A writer that cannot extend its deadline (a test recorder) has none
	// to extend.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 10*time.Second))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(RevocationRecheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			return nil
		case <-preempted:
			return nil
		case <-tick.C:
		case <-woken:
		}
		woken = s.heads.woken()
		head, floor, err := s.heads.read(ctx, lister)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if head != since || since < floor {
			return nil
		}
	}
}

// logHeads shares reads of the revocation log's head among the held
// long-polls of a server.
type logHeads struct {
	mu          sync.Mutex
	at          time.Time // when head and floor were read; zero: never
	head, floor int64
	wake        chan struct{} // closed by the next wake-up; nil: none made yet
}

// woken returns a channel closed by the next [Server.WakeRevocations].
func (h *logHeads) woken() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.wake == nil {
		h.wake = make(chan struct{})
	}
	return h.wake
}

// WakeRevocations tells the held long-polls (GET
// /revocations?since=C&wait=N) that the revocation log may have changed:
// each reads its head again at once, sharing one fresh read, instead of at
// its next [RevocationRecheck]. A listener on the store's notifications
// (PostgreSQL LISTEN/NOTIFY: storage/postgres ListenRevocations) calls it
// for every revocation committed by any replica, so a revocation reaches
// the verifiers held by every replica within a round trip. A spurious call
// costs one read of the head; the periodic re-read stays, so a lost call
// delays a long-poll's answer by at most [RevocationRecheck].
func (s *Server) WakeRevocations() {
	h := &s.heads
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at = time.Time{} // a read made before the change no longer counts
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
}

// read returns the log's head and floor as read less than half a
// [RevocationRecheck] ago, reading them again when older.
func (h *logHeads) read(ctx context.Context, lister RevocationLister) (head, floor int64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < RevocationRecheck/2 {
		return h.head, h.floor, nil
	}
	head, floor, err = lister.RevocationLogHead(ctx)
	if err != nil {
		return 0, 0, err
	}
	h.at, h.head, h.floor = time.Now(), head, floor
	return head, floor, nil
}

// parseCursor reads the since parameter: one decimal number without sign,
// of at most 18 digits.
func parseCursor(vals []string) (int64, bool) {
	if len(vals) != 1 || len(vals[0]) == 0 || len(vals[0]) > 18 {
		return 0, false
	}
	for _, c := range []byte(vals[0]) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	return n, err == nil
}

// writeRevocationChanges answers GET /revocations?since=CURSOR: the
// changes of the revocation log after the cursor, at most
// [MaxRevocationChanges] of them, with the cursor of the last; or, when the
// cursor is 0, below the log's floor (changes the reader would need were
// compacted away) or past its head (another store), the full state with
// "full": true and the head read before it, so that no change committed
// after the state was read is skipped (one read twice is harmless: every
// entry is applied as the later of the two).
func (s *Server) writeRevocationChanges(w http.ResponseWriter, r *http.Request, lister RevocationLister, since int64, now time.Time) error {
	head, floor, err := lister.RevocationLogHead(r.Context())
	if err != nil {
		return err
	}
	if since == 0 || since < floor || since > head {
		st, err := s.fullState(r.Context(), lister, head, floor, now)
		if err != nil {
			return err
		}
		writeBody(w, r, st.delta)
		return nil
	}
	changes, err := lister.ListRevocationChanges(r.Context(), since, MaxRevocationChanges)
	if err != nil {
		return err
	}
	feed := emptyFeed(now, 0, 0)
	cursor := since
	for _, c := range changes {
		cursor = c.Seq
		if c.Kind != keyward.RevocationUser && !c.At.After(now) {
			continue // expired: the reader drops it anyway
		}
		switch c.Kind {
		case keyward.RevocationToken:
			feed.Tokens = append(feed.Tokens, verifier.RevokedToken{JTI: c.Key, Exp: c.At.Unix()})
		case keyward.RevocationSession:
			feed.Sessions = append(feed.Sessions, verifier.RevokedSession{SID: c.Key, Exp: ceilUnix(c.At)})
		case keyward.RevocationFamily:
			feed.Families = append(feed.Families, verifier.RevokedFamily{FID: c.Key, Exp: ceilUnix(c.At)})
		case keyward.RevocationUser:
			feed.Users = append(feed.Users, verifier.RevokedUser{Sub: c.Key, Before: ceilUnix(c.At)})
		}
	}
	feed.Cursor, feed.More = strconv.FormatInt(cursor, 10), len(changes) == MaxRevocationChanges
	return writeFeed(w, r, feed)
}

// emptyFeed returns a feed with empty lists, generated at now.
func emptyFeed(now time.Time, tokens, users int) verifier.RevocationFeed {
	return verifier.RevocationFeed{
		GeneratedAt: now.Unix(),
		Tokens:      make([]verifier.RevokedToken, 0, tokens),
		Sessions:    []verifier.RevokedSession{},
		Families:    []verifier.RevokedFamily{},
		Users:       make([]verifier.RevokedUser, 0, users),
	}
}

// ceilUnix is t in whole seconds, rounded up: a cutoff or an entry's expiry
// never moves earlier, so no token it refuses slips through.
func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.After(time.Unix(u, 0)) {
		u++
	}
	return u
}

// writeFeed writes a feed answer.
func writeFeed(w http.ResponseWriter, r *http.Request, feed verifier.RevocationFeed) error {
	body, err := json.Marshal(feed, json.Deterministic(true))
	if err != nil {
		return err
	}
	writeBody(w, r, append(body, '\n'))
	return nil
}

// writeBody writes a feed answer already encoded, with its final newline.
func writeBody(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// revocationState reads the full state the feed publishes as of now.
func revocationState(ctx context.Context, lister RevocationLister, now time.Time) (verifier.RevocationFeed, error) {
	toks, err := lister.ListRevokedTokens(ctx, now)
	if err != nil {
		return verifier.RevocationFeed{}, err
	}
	grants, err := lister.ListRevokedGrants(ctx, now)
	if err != nil {
		return verifier.RevocationFeed{}, err
	}
	users, err := lister.ListUserRevocations(ctx)
	if err != nil {
		return verifier.RevocationFeed{}, err
	}
	feed := emptyFeed(now, len(toks), len(users))
	for _, t := range toks {
		feed.Tokens = append(feed.Tokens, verifier.RevokedToken{JTI: t.JTI, Exp: t.ExpiresAt.Unix()})
	}
	for _, g := range grants {
		// Rounded up, like a cutoff: the entry never leaves before the
		// last token it refuses has expired.
		exp := ceilUnix(g.ExpiresAt)
		switch g.Kind {
		case keyward.GrantSession:
			feed.Sessions = append(feed.Sessions, verifier.RevokedSession{SID: g.ID, Exp: exp})
		case keyward.GrantFamily:
			feed.Families = append(feed.Families, verifier.RevokedFamily{FID: g.ID, Exp: exp})
		}
	}
	for _, u := range users {
		// Rounded up: a token issued in the cutoff's second is refused, so
		// none issued before the cutoff slips through.
		feed.Users = append(feed.Users, verifier.RevokedUser{Sub: u.UserID, Before: ceilUnix(u.Before)})
	}
	return feed, nil
}

// writeRevocations writes the full feed as of now, the answer to a request
// without since, kept for verifiers that predate the cursor.
func (s *Server) writeRevocations(w http.ResponseWriter, r *http.Request, lister RevocationLister, now time.Time) error {
	head, floor, err := lister.RevocationLogHead(r.Context())
	if err != nil {
		return err
	}
	st, err := s.fullState(r.Context(), lister, head, floor, now)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", st.etag)
	if etagMatch(r.Header.Get("If-None-Match"), st.etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(st.list)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(st.list)
	}
	return nil
}
