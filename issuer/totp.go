package issuer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
)

// TOTP parameters: what every authenticator app supports (RFC 6238 with
// HMAC-SHA-1, six digits, a 30-second step), with a code of the step
// before or after the current one accepted too, for clocks that drift and
// users who type slowly.
const (
	TOTPPeriod = 30 * time.Second
	TOTPDigits = 6
	TOTPSkew   = 1
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryCodeBytes is the randomness of a recovery code: 80 bits, beyond
// any search, so that a fast hash (SHA-256) stores it safely.
const recoveryCodeBytes = 10

// Errors of the second factor.
var (
	// ErrBadCode means a one-time code (TOTP or recovery) is wrong, was
	// used before, or the user has no such factor; the answer is the same
	// for all of them.
	ErrBadCode = errors.New("issuer: the code is wrong or was used already")
	// ErrTOTPEnrolled means the user has a confirmed TOTP credential
	// already: it must be removed before another is enrolled.
	ErrTOTPEnrolled = errors.New("issuer: TOTP is enrolled already")
	// ErrTOTPUnavailable means the issuer has no Sealer for TOTP secrets.
	ErrTOTPUnavailable = errors.New("issuer: TOTP needs the master key")
	// ErrNotEnoughFactors means the session has not met the second factor
	// the action needs (regenerating recovery codes).
	ErrNotEnoughFactors = errors.New("issuer: the session has not met a second factor")
)

// badCode is the one answer to a wrong second factor.
func badCode() *Error {
	return &Error{Code: CodeInvalidGrant, Description: "the code is wrong or was used already", Err: ErrBadCode}
}

// totpSealID is the additional data a user's TOTP secret is sealed with,
// so that a sealed secret moved to another user does not open.
func totpSealID(userID string) string { return "totp:" + userID }

// TOTPEnrolment is a TOTP credential being enrolled, to show the user
// once: the secret as text (base32, for typing into an app), the otpauth://
// URL and the QR code image of that URL (PNG).
type TOTPEnrolment struct {
	Secret string
	URL    string
	PNG    []byte
}

// BeginTOTP starts (or shows again) the TOTP enrolment of user u: a new
// random secret of 160 bits, stored sealed ([Config.Sealer]) and pending
// until [Issuer.ConfirmTOTP] proves the user's app holds it. A pending
// enrolment is shown again, so that a reloaded page matches the app that
// scanned it. It fails with [ErrTOTPEnrolled] when the user has a confirmed
// credential, and [ErrTOTPUnavailable] without a Sealer. The secret is
// never logged.
func (i *Issuer) BeginTOTP(ctx context.Context, u keyward.User) (TOTPEnrolment, error) {
	if i.cfg.Sealer == nil {
		return TOTPEnrolment{}, ErrTOTPUnavailable
	}
	account := u.Username
	issuerName := i.cfg.Issuer
	if p, err := url.Parse(i.cfg.Issuer); err == nil && p.Host != "" {
		issuerName = p.Host
	}
	t, err := i.cfg.Store.GetTOTP(ctx, u.ID)
	switch {
	case err == nil && !t.ConfirmedAt.IsZero():
		return TOTPEnrolment{}, ErrTOTPEnrolled
	case err == nil:
		secret, err := i.cfg.Sealer.Open(totpSealID(u.ID), t.Secret)
		if err != nil {
			return TOTPEnrolment{}, internal(err)
		}
		return totpEnrolment(issuerName, account, secret)
	case !errors.Is(err, keyward.ErrNotFound):
		return TOTPEnrolment{}, internal(err)
	}
	secret := make([]byte, 20)
	if _, err := io.ReadFull(randOrDefault(i.cfg.Rand), secret); err != nil {
		return TOTPEnrolment{}, internal(err)
	}
	sealed, err := i.cfg.Sealer.Seal(totpSealID(u.ID), secret)
	if err != nil {
		return TOTPEnrolment{}, internal(err)
	}
	if err := i.cfg.Store.PutTOTP(ctx, keyward.TOTP{UserID: u.ID, Secret: sealed, CreatedAt: i.cfg.Now()}); err != nil {
		return TOTPEnrolment{}, internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "totp_enrolment_started", slog.String("user_id", u.ID))
	return totpEnrolment(issuerName, account, secret)
}

// totpEnrolment renders the secret as text, URL and QR code.
func totpEnrolment(issuerName, account string, secret []byte) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuerName, AccountName: account, Secret: secret,
		Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, internal(err)
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return TOTPEnrolment{}, internal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrolment{}, internal(err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), PNG: buf.Bytes()}, nil
}

// NormalizeTOTPCode returns the six digits of a typed TOTP code, spaces
// and hyphens removed, or false when it is not six ASCII digits.
func NormalizeTOTPCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == '\t':
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != TOTPDigits {
		return "", false
	}
	return b.String(), true
}

// totpStep returns the time step, within [TOTPSkew] of now's, whose code is
// code for the secret and which is after last, or false. Every candidate
// is computed and compared in constant time.
func totpStep(secret []byte, code string, now time.Time, last int64) (int64, bool) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	cur := now.Unix() / int64(TOTPPeriod/time.Second)
	var found int64
	ok := false
	for d := int64(-TOTPSkew); d <= TOTPSkew; d++ {
		step := cur + d
		if step <= 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(enc, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > last && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// throttleFactor takes one attempt from the user's second-factor bucket
// ([ThrottleConfig.SecondFactorEvery]), or fails with [CodeSlowDown].
func (i *Issuer) throttleFactor(ctx context.Context, userID string, now time.Time) error {
	if i.cfg.Throttle.InsecureDisableThrottle {
		return nil
	}
	wait, err := i.throttle.takeFactor(ctx, userID, now)
	if err != nil {
		return i.throttleUnavailable(ctx, err)
	}
	if wait > 0 {
		i.audit(ctx, slog.LevelWarn, "second_factor_failed", slog.String("user_id", userID), slog.String("reason", "throttled"))
		return &Error{Code: CodeSlowDown, Description: "too many codes tried; retry later", RetryAfter: wait}
	}
	return nil
}

// checkCode checks a one-time code of the user: a TOTP code of a confirmed
// credential (used once: its step is recorded atomically in the store) or
// an unused recovery code (used up). It returns which kind matched, or
// [ErrBadCode]. The caller has throttled the attempt.
func (i *Issuer) checkCode(ctx context.Context, userID, code string, now time.Time) (string, error) {
	if c, ok := NormalizeTOTPCode(code); ok {
		t, err := i.cfg.Store.GetTOTP(ctx, userID)
		switch {
		case errors.Is(err, keyward.ErrNotFound):
			return "", badCode()
		case err != nil:
			return "", internal(err)
		}
		if t.ConfirmedAt.IsZero() || i.cfg.Sealer == nil {
			return "", badCode()
		}
		secret, err := i.cfg.Sealer.Open(totpSealID(userID), t.Secret)
		if err != nil {
			return "", internal(err)
		}
		step, ok := totpStep(secret, c, now, t.LastStep)
		if !ok {
			return "", badCode()
		}
		switch err := i.cfg.Store.UseTOTPStep(ctx, userID, step, now); {
		case errors.Is(err, keyward.ErrConflict), errors.Is(err, keyward.ErrNotFound):
			return "", badCode() // replayed, here or on another replica
		case err != nil:
			return "", internal(err)
		}
		return "totp", nil
	}
	norm, ok := NormalizeRecoveryCode(code)
	if !ok {
		return "", badCode()
	}
	switch err := i.cfg.Store.UseRecoveryCode(ctx, userID, hashRecoveryCode(norm), now); {
	case errors.Is(err, keyward.ErrNotFound):
		return "", badCode()
	case err != nil:
		return "", internal(err)
	}
	return "recovery_code", nil
}

// VerifySecondFactor checks a one-time code (TOTP or recovery code) the
// user of session s typed after signing in, and on success adds
// [MethodOTP] to the session ([Issuer.AddFactor]). Attempts are throttled
// per account ([ThrottleConfig.SecondFactorEvery]) before any check, so
// that a guesser who knows the password gets a few codes a minute at most;
// past it they fail with [CodeSlowDown]. A wrong, replayed or used code
// fails with [CodeInvalidGrant] wrapping [ErrBadCode]. A TOTP code works
// once: a second use, on any replica, is refused.
func (i *Issuer) VerifySecondFactor(ctx context.Context, s keyward.Session, code string) (keyward.Session, error) {
	now := i.cfg.Now()
	if err := i.throttleFactor(ctx, s.UserID, now); err != nil {
		return keyward.Session{}, err
	}
	kind, err := i.checkCode(ctx, s.UserID, code, now)
	if err != nil {
		if errors.Is(err, ErrBadCode) {
			i.audit(ctx, slog.LevelWarn, "second_factor_failed", slog.String("user_id", s.UserID),
				slog.String("session_id", s.ID), slog.String("reason", "bad_code"))
		}
		return keyward.Session{}, err
	}
	i.audit(ctx, slog.LevelInfo, "second_factor_succeeded", slog.String("user_id", s.UserID),
		slog.String("session_id", s.ID), slog.String("kind", kind))
	return i.AddFactor(ctx, s.ID, MethodOTP)
}

// ConfirmTOTP completes the TOTP enrolment of the user of session s with
// the first code of the user's app (throttled as [Issuer.VerifySecondFactor]
// is): the credential becomes a factor, ten new recovery codes replace any
// others, and the session gains [MethodOTP]. It returns the recovery
// codes, which are shown once and never stored in the clear, and the
// updated session. A wrong code fails with [ErrBadCode] and leaves the
// enrolment pending; no pending enrolment fails the same way.
func (i *Issuer) ConfirmTOTP(ctx context.Context, s keyward.Session, code string) ([]string, keyward.Session, error) {
	now := i.cfg.Now()
	if err := i.throttleFactor(ctx, s.UserID, now); err != nil {
		return nil, keyward.Session{}, err
	}
	t, err := i.cfg.Store.GetTOTP(ctx, s.UserID)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil, keyward.Session{}, badCode()
	case err != nil:
		return nil, keyward.Session{}, internal(err)
	}
	c, ok := NormalizeTOTPCode(code)
	if !t.ConfirmedAt.IsZero() || !ok || i.cfg.Sealer == nil {
		return nil, keyward.Session{}, badCode()
	}
	secret, err := i.cfg.Sealer.Open(totpSealID(s.UserID), t.Secret)
	if err != nil {
		return nil, keyward.Session{}, internal(err)
	}
	step, ok := totpStep(secret, c, now, t.LastStep)
	if !ok {
		i.audit(ctx, slog.LevelWarn, "second_factor_failed", slog.String("user_id", s.UserID), slog.String("reason", "bad_enrolment_code"))
		return nil, keyward.Session{}, badCode()
	}
	switch err := i.cfg.Store.UseTOTPStep(ctx, s.UserID, step, now); {
	case errors.Is(err, keyward.ErrConflict), errors.Is(err, keyward.ErrNotFound):
		return nil, keyward.Session{}, badCode()
	case err != nil:
		return nil, keyward.Session{}, internal(err)
	}
	codes, err := i.newRecoveryCodes(ctx, s.UserID)
	if err != nil {
		return nil, keyward.Session{}, err
	}
	i.audit(ctx, slog.LevelInfo, "totp_enrolled", slog.String("user_id", s.UserID), slog.String("session_id", s.ID))
	sess, err := i.AddFactor(ctx, s.ID, MethodOTP)
	if err != nil {
		return nil, keyward.Session{}, err
	}
	return codes, sess, nil
}

// RemoveTOTP removes the TOTP credential of the user of session s, on a
// fresh proof of a factor: a current TOTP code or a recovery code
// (checked and throttled as [Issuer.VerifySecondFactor] does), so that
// whoever holds an open session alone cannot take the factor away. The
// recovery codes go too when the user holds no other factor. A pending
// enrolment is removed without a code.
func (i *Issuer) RemoveTOTP(ctx context.Context, s keyward.Session, code string) error {
	now := i.cfg.Now()
	t, err := i.cfg.Store.GetTOTP(ctx, s.UserID)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil
	case err != nil:
		return internal(err)
	}
	if !t.ConfirmedAt.IsZero() {
		if err := i.throttleFactor(ctx, s.UserID, now); err != nil {
			return err
		}
		if _, err := i.checkCode(ctx, s.UserID, code, now); err != nil {
			return err
		}
	}
	if err := i.cfg.Store.DeleteTOTP(ctx, s.UserID); err != nil {
		return internal(err)
	}
	f, err := i.UserFactors(ctx, s.UserID)
	if err != nil {
		return err
	}
	if !f.Any() {
		if err := i.cfg.Store.SetRecoveryCodes(ctx, s.UserID, nil); err != nil {
			return internal(err)
		}
	}
	i.audit(ctx, slog.LevelInfo, "totp_removed", slog.String("user_id", s.UserID), slog.String("session_id", s.ID))
	return nil
}

// RegenerateRecoveryCodes replaces every recovery code of the user of
// session s with ten new ones and returns them, to show once. The session
// must have met a second factor ([ErrNotEnoughFactors] otherwise) and the
// user must hold one.
func (i *Issuer) RegenerateRecoveryCodes(ctx context.Context, s keyward.Session) ([]string, error) {
	if acrRank(ACRFor(s.AMR)) < acrRank(ACRMultiFactor) {
		return nil, ErrNotEnoughFactors
	}
	f, err := i.UserFactors(ctx, s.UserID)
	if err != nil {
		return nil, err
	}
	if !f.Any() {
		return nil, ErrNotEnoughFactors
	}
	codes, err := i.newRecoveryCodes(ctx, s.UserID)
	if err != nil {
		return nil, err
	}
	i.audit(ctx, slog.LevelInfo, "recovery_codes_regenerated", slog.String("user_id", s.UserID), slog.String("session_id", s.ID))
	return codes, nil
}

// newRecoveryCodes draws [RecoveryCodeCount] codes, stores their hashes in
// place of the user's others and returns them.
func (i *Issuer) newRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, 0, RecoveryCodeCount)
	stored := make([]keyward.RecoveryCode, 0, RecoveryCodeCount)
	now := i.cfg.Now()
	for len(codes) < RecoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		if _, err := io.ReadFull(randOrDefault(i.cfg.Rand), b); err != nil {
			return nil, internal(err)
		}
		norm := recoveryEncoding.EncodeToString(b)
		codes = append(codes, norm[0:4]+"-"+norm[4:8]+"-"+norm[8:12]+"-"+norm[12:16])
		stored = append(stored, keyward.RecoveryCode{Hash: hashRecoveryCode(norm), CreatedAt: now})
	}
	if err := i.cfg.Store.SetRecoveryCodes(ctx, userID, stored); err != nil {
		return nil, internal(err)
	}
	return codes, nil
}

// recoveryEncoding writes recovery codes: lower-case base32 (RFC 4648)
// without padding, 16 characters for 80 bits, no 0/1/8/9 to mistake for
// letters.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// recoveryCodeLen is the length of a normalised recovery code.
const recoveryCodeLen = 16

// NormalizeRecoveryCode returns the normalised form of a typed recovery
// code: spaces and hyphens removed, letters folded to lower case; false
// when the rest is not 16 characters of the code alphabet (a–z, 2–7).
func NormalizeRecoveryCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == '\t':
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		case r >= 'a' && r <= 'z', r >= '2' && r <= '7':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != recoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// hashRecoveryCode is the stored form of a normalised recovery code.
func hashRecoveryCode(norm string) []byte {
	sum := sha256.Sum256([]byte("keyward recovery code\x00" + norm))
	return sum[:]
}

// ChangePassword changes the password of the user of session s: the
// current password must be right (checked, throttled and logged as a
// sign-in is), the new one must pass Config.PasswordPolicy. Then, so that
// whoever knew the old password is signed out everywhere, every other
// session of the user is ended as a logout ends it, and every refresh
// token and access token issued to the user so far is revoked, as
// [EndUserAccess] does; session s alone goes on, so the user's
// applications get new tokens through it. A wrong current password fails
// with [CodeInvalidGrant]; a refused new one with an error wrapping
// [ErrPasswordRefused].
func (i *Issuer) ChangePassword(ctx context.Context, s keyward.Session, current, next, remoteAddr string) error {
	u, err := i.cfg.Store.GetUser(ctx, s.UserID)
	if err != nil {
		if errors.Is(err, keyward.ErrNotFound) {
			return ErrNoSession
		}
		return internal(err)
	}
	if current == "" {
		return errBadCredentials(nil)
	}
	if _, err := i.checkPassword(ctx, LoginRequest{Username: u.Username, Password: current, RemoteAddr: remoteAddr}, i.cfg.Now()); err != nil {
		return err
	}
	if err := SetPassword(ctx, i.cfg.Store, u.ID, next, i.cfg.PasswordPolicy, i.cfg.Password, i.cfg.Rand); err != nil {
		if errors.Is(err, ErrPasswordRefused) {
			return err
		}
		return internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "password_changed", slog.String("user_id", u.ID), slog.String("session_id", s.ID))
	now := i.cfg.Now()
	err = errors.Join(
		i.EndOtherSessions(ctx, u.ID, s.ID, "password_changed"),
		i.cfg.Store.RevokeUserRefreshTokens(ctx, u.ID, now),
		i.cfg.Store.RevokeUser(ctx, keyward.UserRevocation{UserID: u.ID, Before: now}),
	)
	if err != nil {
		return fmt.Errorf("issuer: password changed, but ending the user's other access failed: %w", err)
	}
	return nil
}

// NewTOTPSealer returns the [Sealer] of the users' TOTP secrets
// (Config.Sealer): AES-256-GCM under a key derived from the master key
// with HKDF-SHA-256, so that the secrets need no key of their own, every
// replica opens them, and a sealed secret never opens as a signing key
// nor the other way round.
func NewTOTPSealer(masterKey []byte, random io.Reader) (*Sealer, error) {
	key, err := masterSubkey(masterKey, "keyward totp secret v1", MasterKeySize)
	if err != nil {
		return nil, err
	}
	return NewSealer(key, random)
}
