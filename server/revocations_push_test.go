package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
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

// handlerTransport serves requests with an in-process handler, so that a
// test inside a synctest bubble does no network I/O.
type handlerTransport struct {
	h func(http.ResponseWriter, *http.Request) error
}

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if err := t.h(rec, r); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// loadSignal is a verifier.RevocationObserver that signals every change of
// the entries in force.
type loadSignal chan struct{}

func (loadSignal) Fetched(string, error)                              {}
func (l loadSignal) Loaded(verifier.RevocationStatus)                 { l <- struct{}{} }
func (loadSignal) Unavailable(error)                                  {}
func (loadSignal) Recovered(time.Duration, verifier.RevocationStatus) {}

// TestRevocationPushFollow runs a verifier's list against the feed on the
// bubble's clock: after its first fetch it holds a long-poll, so a session
// revoked at the issuer is refused within RevocationRecheck, far below the
// polling interval, and the requests made while nothing changes are one
// per wait.
func TestRevocationPushFollow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memory.New(memory.Config{})
		s := &Server{cfg: Config{Revocations: store}}
		var requests atomic.Int64
		h := func(w http.ResponseWriter, r *http.Request) error {
			requests.Add(1)
			return s.revocations(w, r)
		}
		const every, wait = time.Minute, 20 * time.Second
		list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: "http://issuer.test/revocations",
			Client: &http.Client{Transport: handlerTransport{h}}, Every: every, Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		go list.Run(t.Context())
		synctest.Wait()
		if requests.Load() != 2 || s.waiters.Load() != 1 {
			t.Fatalf("after start: %d requests, %d held; want the full state, then one held", requests.Load(), s.waiters.Load())
		}
		time.Sleep(5 * wait)
		synctest.Wait()
		if n := requests.Load(); n != 7 {
			t.Errorf("%d requests after 5 waits without a change, want 7", n)
		}
		for i := range 3 {
			sid := "sess-" + strconv.Itoa(i)
			c := &jose.Claims{Subject: "u", Extra: map[string]any{"sid": sid}}
			now := time.Now()
			if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: sid, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(RevocationRecheck)
			synctest.Wait()
			if err := list.Check(c); !errors.Is(err, verifier.ErrRevoked) {
				t.Fatalf("revocation %d, %v later: Check = %v, want ErrRevoked", i, RevocationRecheck, err)
			}
		}
	})
}

// TestRevocationPushLatency measures, on loopback in real time, how long a
// session revoked at an issuer on SQLite takes to be refused by a verifier
// following its feed with the default long-poll: p50 and p99 over 50
// revocations, each bounded at 2 s. The p99 is logged, not asserted: the
// 1 s bound is a figure of bench/revocations.sh on a quiet machine, and
// the wake-ups that give it are tested without real time.
func TestRevocationPushLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time loopback measure")
	}
	t.Parallel()
	s := newStack(t, stackOptions{sqlite: true})
	loaded := make(loadSignal, 1)
	list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: s.srv.URL + "/revocations",
		Client: &http.Client{Timeout: verifier.DefaultRevocationTimeout + verifier.DefaultRevocationWait}, Observer: loaded})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go list.Run(ctx)
	await := func(t *testing.T, what string) {
		t.Helper()
		select {
		case <-loaded:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: not loaded within 2 s", what)
		}
	}
	await(t, "first fetch")
	const n = 50
	lat := make([]time.Duration, 0, n)
	for i := range n {
		sid := "sess-" + strconv.Itoa(i)
		now := time.Now()
		if err := s.store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: sid, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		await(t, sid)
		lat = append(lat, time.Since(now))
		if err := list.Check(&jose.Claims{Subject: "u", Extra: map[string]any{"sid": sid}}); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("%s: Check = %v, want ErrRevoked", sid, err)
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100]
	t.Logf("revoke to refusal over %d revocations: p50 %v, p99 %v, max %v", n, p50, p99, lat[n-1])
}

// TestRevocationLongPollOutlivesWriteTimeout: a long-poll held past the
// server's write timeout is still answered, in real time on loopback (a
// 1 s write timeout, a 2 s wait).
func TestRevocationLongPollOutlivesWriteTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time loopback test")
	}
	t.Parallel()
	s := newStack(t, stackOptions{})
	srv := httptest.NewUnstartedServer(s.srv.Config.Handler)
	srv.Config.WriteTimeout = time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	head, _, err := s.store.RevocationLogHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	resp, err := srv.Client().Get(srv.URL + "/revocations?wait=2&since=" + strconv.FormatInt(head, 10))
	if err != nil {
		t.Fatalf("after %v: %v", time.Since(begin), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer after %v: %v", time.Since(begin), err)
	}
	var f verifier.RevocationFeed
	if err := json.Unmarshal(body, &f); err != nil || resp.StatusCode != http.StatusOK || f.Cursor != strconv.FormatInt(head, 10) {
		t.Fatalf("%d, %+v, %v; want no change at the cursor", resp.StatusCode, f, err)
	}
	if d := time.Since(begin); d < 2*time.Second {
		t.Errorf("answered after %v, want the 2 s wait", d)
	}
}
