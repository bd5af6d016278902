package issuer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// bucketStore wraps a store: it records the buckets taken, and fails every
// take with err when err is set.
type bucketStore struct {
	keyward.Store
	err error

	mu   sync.Mutex
	keys []string
}

func (s *bucketStore) TakeBuckets(ctx context.Context, now time.Time, bs []keyward.Bucket) (time.Duration, error) {
	s.mu.Lock()
	for _, b := range bs {
		s.keys = append(s.keys, b.Key)
	}
	s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	return s.Store.TakeBuckets(ctx, now, bs)
}

func (s *bucketStore) taken() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.keys
	s.keys = nil
	return out
}

// TestThrottleStoreDown checks that an attempt whose buckets the store
// cannot take is refused with temporarily_unavailable before any password
// or code is checked, never let through, and logged as throttle_failed.
func TestThrottleStoreDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{name: "unreachable", err: keyward.ErrUnavailable},
		{name: "other failure", err: errors.New("disk I/O error")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			st := &bucketStore{Store: backends(t)[0].open(t, clk.Now)}
			f := newFixture(t, st, clk, nil)
			alice := f.addUser(t, "alice", "correct horse battery staple", nil)
			st.err = tt.err
			_, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "10.0.0.1:1"})
			if oauthCode(err) != CodeTemporarilyUnavailable || !errors.Is(err, tt.err) {
				t.Fatalf("login with the throttle's store down: %v, want temporarily_unavailable wrapping %v", err, tt.err)
			}
			if err := f.issuer.throttleFactor(t.Context(), alice.ID, clk.Now()); oauthCode(err) != CodeTemporarilyUnavailable {
				t.Fatalf("second factor with the throttle's store down: %v, want temporarily_unavailable", err)
			}
			logs := f.log.String()
			if !strings.Contains(logs, `"msg":"throttle_failed"`) || strings.Contains(logs, "bad_password") || strings.Contains(logs, "session_started") {
				t.Errorf("log: want throttle_failed and no password check:\n%s", logs)
			}
		})
	}
}

// TestThrottleBucketNames checks the names of the buckets in the store:
// no username or address in them; the same names on two issuers with one
// BucketKey (replicas), other names under another key.
func TestThrottleBucketNames(t *testing.T) {
	t.Parallel()
	clk := newClock()
	st := &bucketStore{Store: backends(t)[0].open(t, clk.Now)}
	withKey := func(b byte) func(*Config) {
		return func(c *Config) { c.Throttle.BucketKey = bytes.Repeat([]byte{b}, 32) }
	}
	names := func(f *fixture) []string {
		t.Helper()
		_, _ = f.issuer.Login(t.Context(), LoginRequest{Username: "Alice", Password: "guess", RemoteAddr: "198.51.100.7:1"})
		return st.taken()
	}
	a, b, other := newFixture(t, st, clk, withKey(1)), newFixture(t, st, clk, withKey(1)), newFixture(t, st, clk, withKey(2))
	na, nb, no := names(a), names(b), names(other)
	if len(na) != 3 {
		t.Fatalf("buckets of a login: %q, want 3", na)
	}
	for _, n := range na {
		if strings.Contains(strings.ToLower(n), "alice") || strings.Contains(n, "198.51.100") || len(n) > keyward.MaxBucketKeyLen {
			t.Errorf("bucket name %q carries the username or the address, or is too long", n)
		}
	}
	if strings.Join(na, " ") != strings.Join(nb, " ") {
		t.Errorf("two issuers with one key name the buckets %q and %q", na, nb)
	}
	for i := range na {
		if na[i] == no[i] {
			t.Errorf("bucket %d named %q under two keys", i, na[i])
		}
	}
	if _, err := ThrottleKey(make([]byte, 16)); err == nil {
		t.Error("ThrottleKey of a short master key: no error")
	}
	if _, err := New(Config{Store: st, Keys: a.keys, Issuer: "https://issuer.test", Throttle: ThrottleConfig{BucketKey: make([]byte, 16)}}); err == nil {
		t.Error("New with a 16-byte BucketKey: no error")
	}
}
