package issuer

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// CutoffMargin is how long, beyond the access-token lifetime, a user cutoff
// stays in the revocation feed. A cutoff matters while a token issued before
// it may still be accepted: until Before + the access-token lifetime + the
// leeway the verifier applies to exp. The margin covers that leeway (30 s by
// default, configurable with --leeway), clock skew between the issuer and
// the verifiers, and an access-token lifetime shortened by up to a day at a
// restart: tokens issued before it keep the longer lifetime they were
// issued with. A shorter margin would let a verifier accept again a token
// its user's cutoff refuses.
const CutoffMargin = 24 * time.Hour

// SweepStore is what a [Sweeper] deletes from: the parts of
// [keyward.Store] that expire. Every [keyward.Store] implements it.
type SweepStore interface {
	DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int, error)
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error)
	DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	DeleteUserRevocations(ctx context.Context, horizon time.Time) (int, error)
	DeleteExpiredPasskeyCeremonies(ctx context.Context, now time.Time) (int, error)
	DeleteFullBuckets(ctx context.Context, now time.Time) (int, error)
}

// SweeperConfig configures a [Sweeper]. Durations must not be negative.
type SweeperConfig struct {
	// Store is swept. Required.
	Store SweepStore
	// AccessTTL is the longest lifetime of the access tokens issued; a user
	// cutoff is deleted once it is older than AccessTTL + [CutoffMargin].
	// Zero means 15m. Set it to the issuer's: a shorter value deletes
	// cutoffs that still refuse live tokens.
	AccessTTL time.Duration
	// Every is how often [Sweeper.Run] sweeps. Zero means 1h.
	Every time.Duration
	// Logger receives the sweep (debug) and sweep_failed (error) lines.
	// Nil means none.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Sweeper deletes what has expired from the store: refresh tokens,
// access-token revocations and seen JTIs, authorization codes, sessions and
// passkey ceremonies past their expiry, the throttle's full buckets, and user cutoffs older than AccessTTL +
// [CutoffMargin]. It deletes nothing that can still refuse or grant
// anything, so sweeping is safe on every replica at once. Its methods are
// safe for concurrent use.
type Sweeper struct {
	cfg SweeperConfig
}

// NewSweeper validates cfg and returns a sweeper.
func NewSweeper(cfg SweeperConfig) (*Sweeper, error) {
	if cfg.Store == nil {
		return nil, errors.New("issuer: the sweeper needs a Store")
	}
	if cfg.AccessTTL < 0 || cfg.Every < 0 {
		return nil, errors.New("issuer: negative duration in the sweeper configuration")
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.Every == 0 {
		cfg.Every = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg}, nil
}

// Run sweeps every Every, the first time one period after it starts, until
// ctx ends, and then returns nil; it never returns before. A failed sweep is
// logged as sweep_failed and tried again at the next period, so that a
// store briefly out of reach does not stop the issuer.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		_ = s.Sweep(ctx) // logged by Sweep; retried at the next tick
	}
}

// Sweep makes one pass at the sweeper's clock and logs how many of each it
// deleted (event sweep, at debug level). It tries every deletion even when
// one fails; a failure is logged as sweep_failed and returned, joined with
// the others.
func (s *Sweeper) Sweep(ctx context.Context) error {
	now := s.cfg.Now()
	st := s.cfg.Store
	n1, err1 := st.DeleteExpiredRefreshTokens(ctx, now)
	n2, err2 := st.DeleteExpiredRevocations(ctx, now)
	n3, err3 := st.DeleteExpiredAuthCodes(ctx, now)
	n4, err4 := st.DeleteExpiredSessions(ctx, now)
	n5, err5 := st.DeleteUserRevocations(ctx, now.Add(-(s.cfg.AccessTTL + CutoffMargin)))
	n6, err6 := st.DeleteExpiredPasskeyCeremonies(ctx, now)
	n7, err7 := st.DeleteFullBuckets(ctx, now)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.LogAttrs(ctx, slog.LevelError, "sweep_failed", slog.String("error", err.Error()))
		}
		return err
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "sweep", slog.Int("refresh_tokens", n1), slog.Int("revocations", n2),
		slog.Int("auth_codes", n3), slog.Int("sessions", n4), slog.Int("user_revocations", n5),
		slog.Int("passkey_ceremonies", n6), slog.Int("throttle_buckets", n7))
	return nil
}
