package issuer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sweepCall is one deletion a [Sweeper] asked of its store.
type sweepCall struct {
	what string
	at   time.Time
}

// recordingSweepStore records the deletions asked of it; each deletes one
// row, or fails while failing is set.
type recordingSweepStore struct {
	mu      sync.Mutex
	calls   []sweepCall
	failing bool
}

func (s *recordingSweepStore) record(what string, at time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, sweepCall{what, at})
	if s.failing {
		return 0, errors.New("store down")
	}
	return 1, nil
}

func (s *recordingSweepStore) setFailing(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = v
}

func (s *recordingSweepStore) take() []sweepCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *recordingSweepStore) DeleteExpiredRefreshTokens(_ context.Context, now time.Time) (int, error) {
	return s.record("refresh_tokens", now)
}

func (s *recordingSweepStore) DeleteExpiredRevocations(_ context.Context, now time.Time) (int, error) {
	return s.record("revocations", now)
}

func (s *recordingSweepStore) DeleteExpiredAuthCodes(_ context.Context, now time.Time) (int, error) {
	return s.record("auth_codes", now)
}

func (s *recordingSweepStore) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	return s.record("sessions", now)
}

func (s *recordingSweepStore) DeleteExpiredPasskeyCeremonies(_ context.Context, now time.Time) (int, error) {
	return s.record("passkey_ceremonies", now)
}

func (s *recordingSweepStore) DeleteFullBuckets(_ context.Context, now time.Time) (int, error) {
	return s.record("throttle_buckets", now)
}

func (s *recordingSweepStore) DeleteUserRevocations(_ context.Context, horizon time.Time) (int, error) {
	return s.record("user_revocations", horizon)
}

// TestSweeperSweep checks one pass: what it deletes, up to when, and what
// it logs, with the store up and down.
func TestSweeperSweep(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		accessTTL time.Duration
		failing   bool
		wantLog   []string
	}{
		{name: "default ttl", wantLog: []string{"msg=sweep ", "user_revocations=1", "refresh_tokens=1"}},
		{name: "long ttl", accessTTL: 2 * time.Hour, wantLog: []string{"msg=sweep "}},
		{name: "store down", failing: true, wantLog: []string{"msg=sweep_failed", "error=", "store down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &recordingSweepStore{failing: tt.failing}
			var logs syncBuffer
			s, err := NewSweeper(SweeperConfig{
				Store: st, AccessTTL: tt.accessTTL, Now: func() time.Time { return now },
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Sweep(t.Context())
			if (err != nil) != tt.failing {
				t.Fatalf("Sweep: %v, want failure %v", err, tt.failing)
			}
			ttl := tt.accessTTL
			if ttl == 0 {
				ttl = 15 * time.Minute
			}
			want := []sweepCall{
				{"refresh_tokens", now}, {"revocations", now}, {"auth_codes", now}, {"sessions", now},
				{"user_revocations", now.Add(-(ttl + CutoffMargin))}, {"passkey_ceremonies", now},
				{"throttle_buckets", now},
			}
			if got := st.take(); !equalCalls(got, want) {
				t.Errorf("calls %v, want %v (every deletion tried, even after a failure)", got, want)
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log %q lacks %q", logs.String(), w)
				}
			}
		})
	}
}

func equalCalls(a, b []sweepCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].what != b[i].what || !a[i].at.Equal(b[i].at) {
			return false
		}
	}
	return true
}

// TestSweeperRun runs the loop on the bubble's fake clock: the first sweep
// one period after the start, one per period after it, a failure logged
// and retried at the next period, and Run returning nil once its context
// ends.
func TestSweeperRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := &recordingSweepStore{}
		var logs syncBuffer
		s, err := NewSweeper(SweeperConfig{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		sweepsAt := func() []time.Duration {
			var out []time.Duration
			for _, c := range st.take() {
				if c.what == "refresh_tokens" {
					out = append(out, c.at.Sub(start))
				}
			}
			return out
		}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if got := sweepsAt(); len(got) != 0 {
			t.Fatalf("swept before the first period: %v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := sweepsAt(); len(got) != 1 || got[0] != time.Hour {
			t.Fatalf("sweeps %v, want one at 1h", got)
		}
		st.setFailing(true)
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sweepsAt(); len(got) != 1 || !strings.Contains(logs.String(), "sweep_failed") {
			t.Fatalf("failed sweep: %v, log %q", got, logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned after a failed sweep: %v", err)
		default:
		}
		st.setFailing(false)
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sweepsAt(); len(got) != 1 || got[0] != 3*time.Hour {
			t.Fatalf("sweeps %v, want the retry at 3h", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	})
}

func TestNewSweeperValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []SweeperConfig{
		{},
		{Store: &recordingSweepStore{}, AccessTTL: -time.Second},
		{Store: &recordingSweepStore{}, Every: -time.Second},
	} {
		if _, err := NewSweeper(cfg); err == nil {
			t.Errorf("NewSweeper(%+v) succeeded", cfg)
		}
	}
}
