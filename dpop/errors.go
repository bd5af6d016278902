package dpop

import (
	"errors"
	"fmt"
	"time"
)

// Error categories of this package, for [errors.Is]. The wrapped messages
// add the precise reason, which is safe to log but meant for the operator,
// not for the client.
var (
	// ErrInvalidProof reports a DPoP proof that fails one of the checks of
	// RFC 9449 §4.3. The answer is error="invalid_dpop_proof".
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrReplay reports a proof whose "jti" the checker has already
	// accepted with the same key within the window: a copy of a proof
	// already used. It wraps [ErrInvalidProof].
	ErrReplay = fmt.Errorf("%w: proof replayed", ErrInvalidProof)
	// ErrNoProof reports a request without a DPoP header, or with several
	// (RFC 9449 §4.3 point 1). It wraps [ErrInvalidProof].
	ErrNoProof = fmt.Errorf("%w: not exactly one DPoP header", ErrInvalidProof)
	// ErrKeyMismatch reports a proof signed with another key than the one
	// the token is bound to ([Checker.CheckBound]): typically a stolen
	// token with the thief's own proof. It wraps [ErrInvalidProof].
	ErrKeyMismatch = fmt.Errorf("%w: the proof's key is not the one the token is bound to", ErrInvalidProof)
	// ErrUseNonce reports a proof without a server nonce, or with one
	// that is no longer (or never was) valid, when the checker requires
	// nonces (RFC 9449 §8): the answer is error="use_dpop_nonce" with a
	// fresh nonce in the DPoP-Nonce header, and the client retries.
	ErrUseNonce = errors.New("dpop: server nonce required")
	// ErrReplayCacheFull reports a valid proof refused because the replay
	// cache holds Config.ReplayCacheSize proofs that are all still inside
	// the window: rather than forget one of them, and so accept its
	// replay, the checker refuses new proofs until the oldest expire. The
	// proof may be valid; the answer is 503, not 401.
	ErrReplayCacheFull = errors.New("dpop: replay cache full")
	// ErrKeyQuota reports a valid proof refused because its key already
	// holds Config.ReplayKeyQuota of the proofs in the replay cache: one
	// client sending proofs faster than any honest one would, which left
	// alone would fill the cache and have every client refused with
	// [ErrReplayCacheFull]. Other keys' proofs are still taken. It does
	// not wrap [ErrInvalidProof]: the proof may be valid, and the client
	// only has to slow down; the answer is 429 with Retry-After (see
	// [KeyQuotaError]), not 401.
	ErrKeyQuota = errors.New("dpop: too many proofs of one key")
)

// KeyQuotaError is the error of a proof refused for [ErrKeyQuota]. It
// unwraps to ErrKeyQuota.
type KeyQuotaError struct {
	// RetryAfter is how long until the key's oldest proof leaves the
	// replay cache, after which a proof of the key is taken again.
	RetryAfter time.Duration
}

// Error implements error; it names neither the key nor the proof.
func (e *KeyQuotaError) Error() string {
	return ErrKeyQuota.Error() + "; retry in " + e.RetryAfter.Round(time.Second).String()
}

// Unwrap returns [ErrKeyQuota].
func (e *KeyQuotaError) Unwrap() error { return ErrKeyQuota }

// Reason names the category of an error of this package with a short
// stable string fit for a metric label: "dpop_replay", "dpop_missing",
// "dpop_key_mismatch", "dpop_use_nonce", "dpop_replay_cache_full",
// "dpop_key_quota" or "dpop_invalid"; "" for an error of none of them. It never includes anything from the proof.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrReplay):
		return "dpop_replay"
	case errors.Is(err, ErrNoProof):
		return "dpop_missing"
	case errors.Is(err, ErrKeyMismatch):
		return "dpop_key_mismatch"
	case errors.Is(err, ErrUseNonce):
		return "dpop_use_nonce"
	case errors.Is(err, ErrReplayCacheFull):
		return "dpop_replay_cache_full"
	case errors.Is(err, ErrKeyQuota):
		return "dpop_key_quota"
	case errors.Is(err, ErrInvalidProof):
		return "dpop_invalid"
	}
	return ""
}

// invalid wraps ErrInvalidProof with a reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, args...)...)
}
