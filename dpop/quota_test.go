package dpop

import (
	"crypto/elliptic"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestReplayKeyQuota floods the replay cache with the proofs of one key
// and checks that the key is stopped at its quota, once the cache is half
// full, with ErrKeyQuota while
// another key's proofs are still taken, that no replay is ever accepted,
// and that the key's proofs are taken again once its oldest leave the
// window.
func TestReplayKeyQuota(t *testing.T) {
	t.Parallel()
	flooder, honest := newEC(t, elliptic.P256()), newEC(t, elliptic.P256())
	for _, tt := range []struct {
		name      string
		size      int
		quota     int // Config.ReplayKeyQuota
		wantQuota int
		record    bool // Verify then Record, as a token endpoint does
	}{
		{name: "default quota of a small cache", size: 100, wantQuota: MinReplayKeyQuota},
		{name: "default quota of a larger cache, half full first", size: 1000, wantQuota: 500},
		{name: "configured", size: 20, quota: 10, wantQuota: 10},
		{name: "configured, half full first", size: 100, quota: 10, wantQuota: 50},
		{name: "Verify and Record", size: 100, wantQuota: MinReplayKeyQuota, record: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newChecker(t, Config{ReplayCacheSize: tt.size, ReplayKeyQuota: tt.quota, Now: time.Now})
				a, err := NewProofSigner(flooder, "", time.Now, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := NewProofSigner(honest, "", time.Now, nil)
				if err != nil {
					t.Fatal(err)
				}
				target := mustURL(t, testURL)
				check := func(s *ProofSigner) (string, error) {
					t.Helper()
					p, err := s.Sign("GET", target, testToken, "")
					if err != nil {
						t.Fatal(err)
					}
					if !tt.record {
						_, err = c.CheckBound(p, "GET", target, testToken, s.JKT())
						return p, err
					}
					v, err := c.Verify(p, "GET", target, testToken)
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					return p, c.Record(v)
				}
				var (
					accepted []string
					refusal  error
				)
				for range tt.size + 1 {
					p, err := check(a)
					if err != nil {
						refusal = err
						break
					}
					accepted = append(accepted, p)
				}
				if len(accepted) != tt.wantQuota {
					t.Fatalf("one key had %d proofs accepted, then %v; want %d", len(accepted), refusal, tt.wantQuota)
				}
				var qe *KeyQuotaError
				if !errors.Is(refusal, ErrKeyQuota) || !errors.As(refusal, &qe) || errors.Is(refusal, ErrInvalidProof) || errors.Is(refusal, ErrReplayCacheFull) {
					t.Fatalf("refusal past the quota: %v, want a KeyQuotaError", refusal)
				}
				if qe.RetryAfter <= 0 || qe.RetryAfter > DefaultWindow+time.Second {
					t.Errorf("RetryAfter = %s, want within the window", qe.RetryAfter)
				}
				if Reason(refusal) != "dpop_key_quota" {
					t.Errorf("Reason = %q", Reason(refusal))
				}
				// Another key is not held back by the flood.
				for i := range 3 {
					if _, err := check(b); err != nil {
						t.Fatalf("another key's proof %d after the flood: %v", i, err)
					}
				}
				// A replay is a replay, at the quota or not.
				for _, p := range accepted[:3] {
					if _, err := c.Check(p, "GET", target, testToken); !errors.Is(err, ErrReplay) {
						t.Fatalf("replay at the quota: %v, want ErrReplay", err)
					}
				}
				// Once the key's oldest proofs leave the window, its new
				// proofs are taken again, and its old ones are too old.
				time.Sleep(qe.RetryAfter)
				if _, err := check(a); err != nil {
					t.Fatalf("after RetryAfter: %v", err)
				}
				if _, err := c.Check(accepted[0], "GET", target, testToken); !errors.Is(err, ErrInvalidProof) || errors.Is(err, ErrReplay) {
					t.Fatalf("old proof after the window: %v, want too old", err)
				}
				// The counts leave with their proofs.
				if n := c.replay.keyLen(a.JKT()); n != 1 {
					t.Errorf("the flooding key holds %d proofs, want 1", n)
				}
				if n := len(c.replay.keys); n != 1 {
					t.Errorf("the cache counts %d keys, want 1", n)
				}
			})
		})
	}
}

// TestReplayKeyQuotaConfig checks the bounds of Config.ReplayKeyQuota.
func TestReplayKeyQuotaConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "default", cfg: Config{}, ok: true},
		{name: "equal to the cache", cfg: Config{ReplayCacheSize: 100, ReplayKeyQuota: 100}, ok: true},
		{name: "more than the cache", cfg: Config{ReplayCacheSize: 100, ReplayKeyQuota: 101}},
		{name: "more than the default cache", cfg: Config{ReplayKeyQuota: DefaultReplayCacheSize + 1}},
		{name: "negative", cfg: Config{ReplayKeyQuota: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewChecker(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("NewChecker: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
