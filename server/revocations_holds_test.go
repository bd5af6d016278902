package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
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
			func(i int) (string, string) { return "[2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16) + "]:1024", "" },
			[2]string{"[2001:db8:1:3::1]:1024", ""}},
		{"behind a trusted proxy", proxy,
			func(i int) (string, string) { return "10.0.0.1:" + strconv.Itoa(1024+i%60000), "192.0.2.1" },
			[2]string{"10.0.0.1:1024", "198.51.100.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				store := memory.New(memory.Config{})
				now := time.Now()
				if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s0", RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
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
