package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/verifier"
)

// feedRequest is a GET /revocations request from a client: its TCP peer
// and, when not empty, its X-Forwarded-For.
func feedRequest(ctx context.Context, query, peer, xff string) *http.Request {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/revocations?"+query, nil)
	req.RemoteAddr = peer
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return req
}

// feedStore is a memory store whose feed holds one revoked session, s0, so
// a long-poll with since=1 has nothing new and is held.
func feedStore(t *testing.T) *memory.Store {
	t.Helper()
	store := memory.New(memory.Config{})
	now := time.Now()
	if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s0", RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestRevocationLongPollPerClient: one client holding as many long-polls as
// the server would hold in all cannot stop a second client's long-poll from
// being held and woken by a change within RevocationRecheck, whether the
// first client uses one IPv4 address, many addresses of one IPv6 /64, or
// sends through a trusted proxy.
func TestRevocationLongPollPerClient(t *testing.T) {
	t.Parallel()
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// hog returns the peer and X-Forwarded-For of the first client's
		// i-th request; victim those of the second client's.
		hog    func(i int) (string, string)
		victim [2]string
	}{
		{"ipv4", nil,
			func(i int) (string, string) { return "192.0.2.1:" + strconv.Itoa(1024+i), "" },
			[2]string{"198.51.100.7:1024", ""}},
		{"ipv6 one /64", nil,
			func(i int) (string, string) {
				return "[2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16) + "]:1024", ""
			},
			[2]string{"[2001:db8:1:3::1]:1024", ""}},
		{"behind a trusted proxy", proxy,
			func(i int) (string, string) { return "10.0.0.1:" + strconv.Itoa(1024+i%60000), "192.0.2.1" },
			[2]string{"10.0.0.1:1024", "198.51.100.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				store := feedStore(t)
				s := &Server{cfg: Config{Revocations: store, TrustedProxies: tc.trusted}}
				hogCtx, stopHog := context.WithCancel(t.Context())
				var hogs sync.WaitGroup
				for i := range MaxRevocationWaiters {
					peer, xff := tc.hog(i)
					hogs.Go(func() {
						if err := s.revocations(httptest.NewRecorder(), feedRequest(hogCtx, "since=1&wait=25", peer, xff)); err != nil {
							t.Error(err)
						}
					})
				}
				synctest.Wait()

				answered := make(chan verifier.RevocationFeed, 1)
				go func() {
					rec := httptest.NewRecorder()
					if err := s.revocations(rec, feedRequest(t.Context(), "since=1&wait=20", tc.victim[0], tc.victim[1])); err != nil {
						t.Error(err)
					}
					var f verifier.RevocationFeed
					if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
						t.Error(err)
					}
					answered <- f
				}()
				synctest.Wait()
				select {
				case f := <-answered:
					t.Fatalf("the second client's long-poll was answered at once (%+v): not held", f)
				default:
				}
				begin := time.Now()
				if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s1", RevokedAt: begin, ExpiresAt: begin.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				f := <-answered
				if d := time.Since(begin); d > RevocationRecheck {
					t.Errorf("the second client was answered %v after the change, want at most %v", d, RevocationRecheck)
				}
				if len(f.Sessions) != 1 || f.Sessions[0].SID != "s1" {
					t.Errorf("the second client got %+v, want session s1", f)
				}
				stopHog()
				hogs.Wait()
				if n := s.waiters.Load(); n != 0 {
					t.Errorf("%d held after every request was answered, want 0", n)
				}
			})
		})
	}
}

// peerTransport serves requests with the feed's handler in process, as
// sent from peer.
type peerTransport struct {
	s    *Server
	peer string
	n    *atomic.Int64 // counts the requests
}

func (t peerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	r = r.Clone(r.Context())
	r.RemoteAddr = t.peer
	rec := httptest.NewRecorder()
	if err := t.s.revocations(rec, r); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// TestRevocationLongPollClientCap: past MaxRevocationWaitersPerClient a
// client's long-poll is answered at once with no change, logged once as
// revocation_hold_refused; a verifier in that client then polls every
// RevocationConfig.Every rather than asking again at once, and still
// learns a revocation within it; the client's count is dropped once its
// long-polls are answered.
func TestRevocationLongPollClientCap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := feedStore(t)
		var logs bytes.Buffer
		s := &Server{cfg: Config{Revocations: store}, log: slog.New(slog.NewTextHandler(&logs, nil))}
		const peer = "192.0.2.1:1024"
		ctx, stop := context.WithCancel(t.Context())
		var held sync.WaitGroup
		for range MaxRevocationWaitersPerClient {
			held.Go(func() {
				if err := s.revocations(httptest.NewRecorder(), feedRequest(ctx, "since=1&wait=25", peer, "")); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		if n := s.waiters.Load(); n != MaxRevocationWaitersPerClient {
			t.Fatalf("%d held, want %d", n, MaxRevocationWaitersPerClient)
		}
		for range 3 {
			begin := time.Now()
			rec := httptest.NewRecorder()
			if err := s.revocations(rec, feedRequest(t.Context(), "since=1&wait=25", "192.0.2.1:2048", "")); err != nil {
				t.Fatal(err)
			}
			var f verifier.RevocationFeed
			if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || f.Cursor != "1" || f.Full || time.Since(begin) != 0 {
				t.Fatalf("past the cap: %v %s after %v; want no change at once", err, rec.Body, time.Since(begin))
			}
		}
		if got := strings.Count(logs.String(), "msg=revocation_hold_refused"); got != 1 ||
			!strings.Contains(logs.String(), "reason=client_cap client_network=192.0.2.1 refused=1") {
			t.Errorf("logs = %q, want one revocation_hold_refused for client_cap of 192.0.2.1", logs.String())
		}

		// A verifier in the same client: one request per Every.
		var requests atomic.Int64
		const every = 5 * time.Second
		list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: "http://issuer.test/revocations",
			Client: &http.Client{Transport: peerTransport{s, peer, &requests}}, Every: every})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stopRun := context.WithCancel(t.Context())
		ran := make(chan struct{})
		go func() { list.Run(runCtx); close(ran) }()
		const span = time.Minute
		time.Sleep(span)
		synctest.Wait()
		if n, most := requests.Load(), int64(span/every)+1; n > most {
			t.Errorf("a verifier over its client's cap made %d requests in %v, want at most %d (one per %v)", n, span, most, every)
		}
		now := time.Now()
		if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s1", RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(every)
		synctest.Wait()
		if err := list.Check(&jose.Claims{Subject: "u", Extra: map[string]any{"sid": "s1"}}); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("polling over the cap, %v after the revocation: Check = %v, want ErrRevoked", every, err)
		}
		stopRun()
		<-ran

		stop()
		held.Wait()
		s.holds.mu.Lock()
		defer s.holds.mu.Unlock()
		if n := s.waiters.Load(); n != 0 || len(s.holds.byClient) != 0 {
			t.Errorf("after the answers: %d held, %d clients counted; want none", n, len(s.holds.byClient))
		}
	})
}

// TestRevocationWaitersPerClientConfig: Config.RevocationWaitersPerClient
// sets the per-client cap, and a negative one is refused.
func TestRevocationWaitersPerClientConfig(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memory.New(memory.Config{})
		s := &Server{cfg: Config{Revocations: store, RevocationWaitersPerClient: 2}, log: slog.New(slog.DiscardHandler)}
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		for range 2 {
			go func() {
				_ = s.revocations(httptest.NewRecorder(), feedRequest(ctx, "since=0&wait=25", "192.0.2.9:1024", ""))
			}()
		}
		synctest.Wait()
		if release, _ := s.holdRevocation(feedRequest(ctx, "since=0&wait=25", "192.0.2.9:2048", "")); release != nil {
			release()
			t.Fatal("a third long-poll of one client was held under a cap of 2")
		}
		if release, _ := s.holdRevocation(feedRequest(ctx, "since=0&wait=25", "192.0.2.10:1024", "")); release == nil {
			t.Fatal("another client's long-poll was refused")
		} else {
			release()
		}
		stop()
		synctest.Wait()
	})
	if _, err := New(Config{RevocationWaitersPerClient: -1}); err == nil || !strings.Contains(err.Error(), "RevocationWaitersPerClient") {
		t.Error("New with a negative RevocationWaitersPerClient passed")
	}
}
