package verifier

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// TestMiddlewareDPoPKeyQuota checks the answer to a key over its share of
// the replay cache: 429 with Retry-After and no challenge, while another
// client's key is still served.
func TestMiddlewareDPoPKeyQuota(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	c := claims()
	dpop.Bind(c, f.thief.JKT())
	other := loadTestKey(t, "ec256.pem", jose.ES256).sign(t, "at+jwt", c)
	checker, err := dpop.NewChecker(dpop.Config{Now: f.clock.Now, ReplayCacheSize: 4, ReplayKeyQuota: 2})
	if err != nil {
		t.Fatal(err)
	}
	h := f.handler(t, DPoPConfig{Mode: DPoPRequired, Checker: checker})
	for i, want := range []int{200, 200, 429, 429} {
		w := serve(h, dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}})
		if w.Code != want {
			t.Fatalf("request %d: %d %s, want %d", i, w.Code, w.Body, want)
		}
		if want != 429 {
			continue
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > int(dpop.DefaultWindow/time.Second)+1 {
			t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
		}
		if w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("a challenge with 429: %q", w.Header().Get("WWW-Authenticate"))
		}
	}
	w := serve(h, dpopRequest{auth: []string{"DPoP " + other}, proofs: []string{f.proof(t, f.thief, "GET", target, other, "")}})
	if w.Code != 200 {
		t.Fatalf("another key after the flood: %d %s", w.Code, w.Body)
	}
	if r := Reason(&dpop.KeyQuotaError{RetryAfter: time.Second}); r != "dpop_key_quota" {
		t.Errorf("Reason = %q", r)
	}
	if d := RetryAfter(errors.Join(errors.New("x"), &dpop.KeyQuotaError{RetryAfter: 1500 * time.Millisecond})); d != 2*time.Second {
		t.Errorf("RetryAfter = %s, want 2s", d)
	}
}
