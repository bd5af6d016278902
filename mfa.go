package keyward

import (
	"context"
	"log/slog"
	"time"
)

// TOTP is a user's time-based one-time password credential (RFC 6238), at
// most one per user.
type TOTP struct {
	// UserID is the user the credential belongs to.
	UserID string
	// Secret is the shared secret sealed by the issuer (opaque
	// ciphertext); the secret is never stored in the clear. It is never
	// logged: [TOTP.LogValue] leaves it out.
	Secret []byte
	// CreatedAt is when the enrolment started; set by the store when zero.
	CreatedAt time.Time
	// ConfirmedAt is when the user proved the enrolment with a first code;
	// zero means the enrolment is pending and the credential is not a
	// factor yet.
	ConfirmedAt time.Time
	// LastStep is the RFC 6238 time step (Unix time / period) of the last
	// code accepted, zero for none: a code of that step or an earlier one
	// is refused, so that each code works once.
	LastStep int64
}

// LogValue implements [slog.LogValuer]; it leaves out the secret.
func (t TOTP) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user_id", t.UserID),
		slog.Bool("confirmed", !t.ConfirmedAt.IsZero()),
	)
}

// RecoveryCode is the stored form of one of a user's single-use recovery
// codes, which stand in for a lost second factor.
type RecoveryCode struct {
	// Hash is the SHA-256 of the normalised code; the code is never stored.
	// The issuer draws each code with 80 random bits, beyond any search,
	// so neither a slow hash nor a salt would add anything.
	Hash []byte
	// CreatedAt is when the code was made; set by the store when zero.
	CreatedAt time.Time
	// UsedAt is when the code was used; zero means unused.
	UsedAt time.Time
}

// MFAStore persists the users' second factors: TOTP credentials and
// recovery codes. Backends that add a kind of factor (passkeys) delete it
// in [MFAStore.DeleteUserFactors] too, which is what resetting a user's
// factors relies on.
type MFAStore interface {
	// PutTOTP stores t as the user's TOTP credential, replacing any other
	// (a new enrolment starts over). It returns an error wrapping
	// ErrInvalid when the user ID or the secret is empty. The store sets
	// CreatedAt when zero.
	PutTOTP(ctx context.Context, t TOTP) error
	// GetTOTP returns the user's TOTP credential, or an error wrapping
	// ErrNotFound.
	GetTOTP(ctx context.Context, userID string) (TOTP, error)
	// UseTOTPStep records that a code of step was accepted for the user,
	// atomically and only when step is after the stored LastStep, so that
	// of two requests (on any replica) presenting codes of the same step
	// one wins. It also confirms a pending credential at now. It returns
	// an error wrapping ErrNotFound when the user has no credential and
	// ErrConflict when step is not after LastStep (a replayed code).
	UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error
	// DeleteTOTP deletes the user's TOTP credential; a user without one is
	// not an error.
	DeleteTOTP(ctx context.Context, userID string) error
	// SetRecoveryCodes replaces every recovery code of the user with codes
	// (hashes), in one transaction. It returns an error wrapping ErrInvalid
	// when the user ID or a hash is empty. The store sets CreatedAt when
	// zero.
	SetRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode) error
	// UseRecoveryCode marks the user's unused recovery code with the hash
	// used at now, atomically, so that a code works once. It returns an
	// error wrapping ErrNotFound when the user has no such unused code.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error
	// CountRecoveryCodes returns how many unused recovery codes the user
	// has.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
	// DeleteUserFactors deletes every second factor of the user: the TOTP
	// credential, the recovery codes, and any kind of factor a backend
	// stores besides. A user without factors is not an error.
	DeleteUserFactors(ctx context.Context, userID string) error
}
