package issuer

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Authentication method references (RFC 8176 §2), the values of a
// session's AMR and of the ID token's amr claim.
const (
	// MethodPassword is a password ("pwd").
	MethodPassword = "pwd"
	// MethodOTP is a one-time code: a TOTP code or a recovery code ("otp").
	MethodOTP = "otp"
	// MethodHardwareKey is a proof of possession of a hardware-secured key,
	// such as a security key or a platform passkey ("hwk").
	MethodHardwareKey = "hwk"
	// MethodSoftwareKey is a proof of possession of a software-secured
	// key, such as a synced passkey ("swk").
	MethodSoftwareKey = "swk"
	// MethodPIN is a PIN or pattern, such as a WebAuthn authenticator's
	// user verification ("pin").
	MethodPIN = "pin"
	// MethodFingerprint is a fingerprint check, such as a WebAuthn
	// authenticator's biometric user verification ("fpt").
	MethodFingerprint = "fpt"
	// MethodFace is a facial recognition check ("face").
	MethodFace = "face"
	// MethodUserPresence is a user presence test ("user").
	MethodUserPresence = "user"
	// MethodMFA says that at least two factors of different kinds were
	// used ("mfa"). The issuer adds it; callers never pass it.
	MethodMFA = "mfa"
)

// The authentication context classes (OIDC Core §2, acr) the issuer
// offers, from the weakest: a request's acr_values name the class it
// wants, and an ID token's acr is the class its session met. Each class
// includes the ones before it.
const (
	// ACRSingleFactor is a sign-in with one factor, such as a password.
	ACRSingleFactor = "urn:keyward:acr:sfa"
	// ACRMultiFactor is a sign-in with two factors of different kinds,
	// such as a password and a TOTP code (amr holds "mfa").
	ACRMultiFactor = "urn:keyward:acr:mfa"
	// ACRPhishingResistant is a multi-factor sign-in one of whose factors
	// is bound to the issuer's origin, so that a look-alike site cannot
	// relay it: a passkey ("hwk" or "swk") with user verification.
	ACRPhishingResistant = "urn:keyward:acr:phr"
)

// ACRValues returns the authentication context classes the issuer offers,
// from the weakest, for discovery's acr_values_supported. Each call
// returns a new slice.
func ACRValues() []string {
	return []string{ACRSingleFactor, ACRMultiFactor, ACRPhishingResistant}
}

// acrRank orders the classes; an unknown class ranks 0.
func acrRank(acr string) int {
	return slices.Index(ACRValues(), acr) + 1
}

// factorKind is the kind of factor a method proves: something the user
// knows, has or is. Methods of no kind (user presence) count for none.
func factorKind(method string) string {
	switch method {
	case MethodPassword, MethodPIN:
		return "know"
	case MethodOTP, MethodHardwareKey, MethodSoftwareKey, "sms", "tel":
		return "have"
	case MethodFingerprint, MethodFace, "iris", "retina", "vbm":
		return "are"
	}
	return ""
}

// AMRFor returns the amr of a sign-in with the methods: the methods once
// each, in order, with [MethodMFA] added when they prove factors of at
// least two different kinds (knowledge, possession, inherence). A
// [MethodMFA] among methods is dropped and recomputed.
func AMRFor(methods []string) []string {
	var out []string
	kinds := map[string]bool{}
	for _, m := range methods {
		if m == "" || m == MethodMFA || slices.Contains(out, m) {
			continue
		}
		out = append(out, m)
		if k := factorKind(m); k != "" {
			kinds[k] = true
		}
	}
	if len(kinds) >= 2 {
		out = append(out, MethodMFA)
	}
	return out
}

// ACRFor returns the class a session with the amr meets:
// [ACRPhishingResistant] for a multi-factor sign-in with a passkey,
// [ACRMultiFactor] for any other multi-factor sign-in, [ACRSingleFactor]
// otherwise, and "" for none.
func ACRFor(amr []string) string {
	switch {
	case len(amr) == 0:
		return ""
	case slices.Contains(amr, MethodMFA) && (slices.Contains(amr, MethodHardwareKey) || slices.Contains(amr, MethodSoftwareKey)):
		return ACRPhishingResistant
	case slices.Contains(amr, MethodMFA):
		return ACRMultiFactor
	}
	return ACRSingleFactor
}

// maxACRValues bounds the acr_values read.
const maxACRValues = 512

// ParseACRValues reads the acr_values parameter of an authorization
// request (OIDC Core §3.1.2.1: space-separated classes in order of
// preference) and returns the weakest class of the issuer's it names,
// which is the least a session must meet, or "" when it names none of
// them: unknown values are ignored, as acr_values is a voluntary request.
// A value longer than 512 bytes is an error.
func ParseACRValues(v string) (string, error) {
	if len(v) > maxACRValues {
		return "", errors.New("acr_values too long")
	}
	least := ""
	for s := range strings.FieldsSeq(v) {
		if r := acrRank(s); r > 0 && (least == "" || r < acrRank(least)) {
			least = s
		}
	}
	return least, nil
}

// Need is what a session lacks before it can be used for a request.
type Need int

// The needs of a session.
const (
	// NeedNothing: the session can be used.
	NeedNothing Need = iota
	// NeedFactor: the user must present a second factor they hold.
	NeedFactor
	// NeedEnrolment: the user must enrol a second factor (TOTP) first,
	// then use it; the session can do nothing else.
	NeedEnrolment
	// NeedUnmet: the request asks for a class the user has no means to
	// meet (a phishing-resistant sign-in without a passkey).
	NeedUnmet
)

// Factors are the second factors a user holds.
type Factors struct {
	// TOTP is whether the user has a confirmed TOTP credential.
	TOTP bool
	// RecoveryCodes is how many unused recovery codes the user has.
	RecoveryCodes int
	// PendingTOTP is whether a TOTP enrolment was started and not
	// confirmed.
	PendingTOTP bool
	// Passkeys is how many passkeys the user has registered.
	Passkeys int
}

// Any reports whether the user holds a second factor, recovery codes
// aside (they stand in for a lost factor and are no factor alone).
func (f Factors) Any() bool { return f.TOTP || f.Passkeys > 0 }

// UserFactors returns the second factors the user holds. A kind of factor
// added to the issuer (passkeys) adds its field to [Factors] and its
// lookup here, so that the policy ([Issuer.Requirement]) counts it.
func (i *Issuer) UserFactors(ctx context.Context, userID string) (Factors, error) {
	var f Factors
	t, err := i.cfg.Store.GetTOTP(ctx, userID)
	switch {
	case err == nil:
		f.TOTP, f.PendingTOTP = !t.ConfirmedAt.IsZero(), t.ConfirmedAt.IsZero()
	case !errors.Is(err, keyward.ErrNotFound):
		return Factors{}, internal(err)
	}
	if f.RecoveryCodes, err = i.cfg.Store.CountRecoveryCodes(ctx, userID); err != nil {
		return Factors{}, internal(err)
	}
	pks, err := i.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return Factors{}, internal(err)
	}
	f.Passkeys = len(pks)
	return f, nil
}

// MFARequired reports whether the user must sign in with a second factor:
// the issuer requires it of everyone (Config.RequireMFA), the user's
// RequireMFA is set, or the user holds a second factor.
func (i *Issuer) MFARequired(u keyward.User, f Factors) bool {
	return i.cfg.RequireMFA || u.RequireMFA || f.Any()
}

// Requirement returns what the session lacks before it may be used for a
// request asking for the class acr (from [ParseACRValues], "" for none):
// nothing when it meets the stronger of acr and the user's policy
// ([Issuer.MFARequired] asks for [ACRMultiFactor]); else a second factor,
// or the enrolment of one when the user holds none; [NeedUnmet] for a
// phishing-resistant class the session does not meet. A request for a
// class the session lacks is a step-up: the user is asked for the factor
// even in a session opened before.
func (i *Issuer) Requirement(ctx context.Context, s keyward.Session, acr string) (Need, error) {
	u, err := i.cfg.Store.GetUser(ctx, s.UserID)
	if err != nil {
		if errors.Is(err, keyward.ErrNotFound) {
			return NeedNothing, ErrNoSession
		}
		return NeedNothing, internal(err)
	}
	f, err := i.UserFactors(ctx, u.ID)
	if err != nil {
		return NeedNothing, err
	}
	want := acrRank(acr)
	if i.MFARequired(u, f) {
		want = max(want, acrRank(ACRMultiFactor))
	}
	have := acrRank(ACRFor(s.AMR))
	switch {
	case have >= want:
		return NeedNothing, nil
	case want >= acrRank(ACRPhishingResistant) && have >= acrRank(ACRMultiFactor):
		return NeedUnmet, nil
	case f.Any():
		return NeedFactor, nil
	case want >= acrRank(ACRPhishingResistant):
		// A second factor the user could enrol would not meet it.
		return NeedUnmet, nil
	}
	return NeedEnrolment, nil
}

// CompleteLogin is the end of every sign-in, whatever its method: it
// opens the browser's session for user u, authenticated with methods (RFC
// 8176 values of the first factor, such as [MethodPassword], or
// [MethodHardwareKey] and [MethodPIN] for a passkey with user
// verification), and logs it. The caller has checked the methods (and
// throttled the attempts, as [Issuer.SignIn] does for passwords); a
// disabled user is refused with the answer of a failed password. current
// is the session cookie value the browser presents, "" for none:
//
//   - When it names an active session of the same user, the session goes
//     on under the same ID, so the refresh tokens issued in it stay tied to
//     it and a later [Issuer.EndSession] revokes them all. Its AuthTime
//     (the ID token's auth_time, checked against max_age) becomes now, its
//     AMR becomes methods (a new sign-in replaces the factors of the
//     previous one), it ends [SessionTTL] from now, and its cookie value is
//     replaced: after the authentication the browser holds a value no one
//     could know before it (session fixation), and the old value names no
//     session.
//   - When it names an active session of another user, that session is
//     ended first, as [Issuer.EndSession] ends it, refresh tokens
//     included; then a new session is opened.
//   - Otherwise (no cookie, or one naming an unknown, expired or ended
//     session) a new session is opened.
//
// It returns the cookie value the browser is to hold from now on and the
// session it names; only the browser keeps the value, the store holds its
// hash. The session may still lack a second factor: see
// [Issuer.Requirement], and [Issuer.AddFactor] once the factor is checked.
// The caller (the server) then sets the session cookie and the
// known-browser cookie ([Issuer.KnownBrowser]).
func (i *Issuer) CompleteLogin(ctx context.Context, u keyward.User, methods []string, current, userAgent string) (string, keyward.Session, error) {
	if u.Disabled {
		return "", keyward.Session{}, errBadCredentials(nil)
	}
	now := i.cfg.Now()
	amr := AMRFor(methods)
	cookie, err := randomString(i.cfg.Rand, 32)
	if err != nil {
		return "", keyward.Session{}, internal(err)
	}
	if current != "" {
		old, err := i.Session(ctx, current)
		switch {
		case errors.Is(err, ErrNoSession):
		case err != nil:
			return "", keyward.Session{}, err
		case old.UserID == u.ID:
			s, err := i.renewSession(ctx, old.ID, current, cookie, amr, now)
			switch {
			case err == nil:
				i.audit(ctx, slog.LevelInfo, "session_renewed", slog.String("session_id", s.ID), slog.String("user_id", s.UserID),
					slog.Any("amr", s.AMR))
				return cookie, s, nil
			case !errors.Is(err, ErrNoSession):
				return "", keyward.Session{}, err
			}
			// Renewed by a concurrent login, ended or deleted since it
			// was read: the browser's cookie names no session any more.
		default:
			if err := i.endSession(ctx, old.ID, old.UserID, now, "other_user_signed_in"); err != nil {
				return "", keyward.Session{}, err
			}
		}
	}
	id, err := NewID(i.cfg.Rand)
	if err != nil {
		return "", keyward.Session{}, internal(err)
	}
	s := keyward.Session{ID: id, CookieHash: hashToken(cookie), UserID: u.ID, CreatedAt: now, AuthTime: now,
		ExpiresAt: now.Add(SessionTTL), AMR: amr, ACR: ACRFor(amr), LastUsedAt: now, Device: DeviceLabel(userAgent)}
	if err := i.cfg.Store.CreateSession(ctx, s); err != nil {
		return "", keyward.Session{}, internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "session_started", slog.String("session_id", s.ID), slog.String("user_id", s.UserID),
		slog.Any("amr", s.AMR))
	return cookie, s, nil
}

// AddFactor records in the session with the ID that the user has just
// presented a further factor with method (such as [MethodOTP], or
// [MethodHardwareKey] for a passkey used as a second factor), checked by
// the caller: the method joins the session's AMR (with [MethodMFA] when
// the factors are now of two kinds), its ACR follows, and its AuthTime
// becomes now, as the ID token's auth_time is the time of the last
// authentication. It returns the updated session, or an error wrapping
// [ErrNoSession] when the session is no longer active.
func (i *Issuer) AddFactor(ctx context.Context, sessionID, method string) (keyward.Session, error) {
	now := i.cfg.Now()
	var out keyward.Session
	err := i.cfg.Store.UpdateSession(ctx, sessionID, func(s *keyward.Session) error {
		if !s.Active(now) {
			return fmt.Errorf("%w: ended meanwhile", ErrNoSession)
		}
		s.AMR = AMRFor(append(slices.Clone(s.AMR), method))
		s.ACR, s.AuthTime, s.LastUsedAt = ACRFor(s.AMR), now, now
		out = *s
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, ErrNoSession):
		return keyward.Session{}, err
	case errors.Is(err, keyward.ErrNotFound):
		return keyward.Session{}, fmt.Errorf("%w: deleted meanwhile", ErrNoSession)
	default:
		return keyward.Session{}, internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "factor_added", slog.String("session_id", out.ID), slog.String("user_id", out.UserID),
		slog.String("method", method), slog.Any("amr", out.AMR))
	return out, nil
}

// lastUsedEvery is how often a session's LastUsedAt is written at most.
const lastUsedEvery = time.Minute

// TouchSession records that the session was used now, for the user's list
// of sessions; it writes at most once a [time.Minute] per session, so that
// a busy session costs no write per request. A failure is logged, never
// returned: it costs only the list's accuracy.
func (i *Issuer) TouchSession(ctx context.Context, s keyward.Session) {
	now := i.cfg.Now()
	if now.Sub(s.LastUsedAt) < lastUsedEvery {
		return
	}
	err := i.cfg.Store.UpdateSession(ctx, s.ID, func(v *keyward.Session) error {
		if now.Sub(v.LastUsedAt) < lastUsedEvery {
			return keyward.ErrNoChange
		}
		v.LastUsedAt = now
		return nil
	})
	if err != nil {
		i.audit(ctx, slog.LevelWarn, "session_touch_failed", slog.String("session_id", s.ID), slog.String("error", err.Error()))
	}
}

// UserSessions returns the user's active sessions, newest first.
func (i *Issuer) UserSessions(ctx context.Context, userID string) ([]keyward.Session, error) {
	out, err := i.cfg.Store.ListUserSessions(ctx, userID, i.cfg.Now())
	if err != nil {
		return nil, internal(err)
	}
	return out, nil
}

// EndUserSession ends the session with the ID, which must belong to the
// user, as a logout does: the session, its refresh tokens, and, through
// the revocation feed, its access tokens. reason says why in the audit
// log. Another user's session, or an unknown one, is not ended and not an
// error, so that the answer tells nothing of other users' sessions.
func (i *Issuer) EndUserSession(ctx context.Context, userID, sessionID, reason string) error {
	s, err := i.cfg.Store.GetSession(ctx, sessionID)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil
	case err != nil:
		return internal(err)
	}
	if subtle.ConstantTimeCompare([]byte(s.UserID), []byte(userID)) != 1 || !s.RevokedAt.IsZero() {
		return nil
	}
	return i.endSession(ctx, s.ID, s.UserID, i.cfg.Now(), reason)
}

// EndOtherSessions ends every active session of the user but keep, as
// [Issuer.EndUserSession] ends each.
func (i *Issuer) EndOtherSessions(ctx context.Context, userID, keep, reason string) error {
	now := i.cfg.Now()
	sessions, err := i.cfg.Store.ListUserSessions(ctx, userID, now)
	if err != nil {
		return internal(err)
	}
	var errs []error
	for _, s := range sessions {
		if s.ID != keep {
			errs = append(errs, i.endSession(ctx, s.ID, s.UserID, now, reason))
		}
	}
	return errors.Join(errs...)
}

// MFAResetStore is what [ResetMFA] needs of a store.
type MFAResetStore interface {
	UserAccessStore
	keyward.UserStore
	keyward.MFAStore
}

// ResetMFA removes every second factor of the user with the ID (TOTP,
// recovery codes, and every kind the store's
// [keyward.MFAStore.DeleteUserFactors] deletes, passkeys included) and
// ends everything the user holds at now, as [EndUserAccess] does, for a
// user who lost every factor: whoever may have taken the factors over is
// signed out, and the user signs in with the password next and, if a
// second factor is required, enrols a new one. The caller logs mfa_reset
// with the operator's reason. It returns the user, or an error wrapping
// [keyward.ErrNotFound] when there is no such user.
func ResetMFA(ctx context.Context, store MFAResetStore, userID string, now time.Time) (keyward.User, error) {
	u, err := store.GetUser(ctx, userID)
	if err != nil {
		return keyward.User{}, fmt.Errorf("issuer: reset mfa of user %q: %w", userID, err)
	}
	if err := store.DeleteUserFactors(ctx, u.ID); err != nil {
		return keyward.User{}, fmt.Errorf("issuer: reset mfa of user %q: %w", userID, err)
	}
	if err := EndUserAccess(ctx, store, u.ID, now); err != nil {
		return keyward.User{}, err
	}
	return u, nil
}

// ResetMFA is [ResetMFA] on the issuer's store and clock, logged as
// mfa_reset with the user and the operator's reason, at warning level.
func (i *Issuer) ResetMFA(ctx context.Context, userID, reason string) error {
	u, err := ResetMFA(ctx, i.cfg.Store, userID, i.cfg.Now())
	if err != nil {
		return err
	}
	i.audit(ctx, slog.LevelWarn, "mfa_reset", slog.String("user_id", u.ID), slog.String("username", u.Username),
		slog.String("reason", reason))
	return nil
}

// DeviceLabel reduces a User-Agent header to a short label of the browser
// and its system ("Firefox on Linux"), for the user's list of sessions;
// "" when it recognises neither. It keeps nothing else of the header, so
// the label is no fingerprint.
func DeviceLabel(ua string) string {
	if len(ua) > 512 {
		ua = ua[:512]
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"}, {"Mac OS X", "macOS"},
		{"Macintosh", "macOS"}, {"Windows", "Windows"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	return system
}

// User returns the user with the ID, or an error wrapping [ErrNoSession]
// when there is none or it is disabled: the pages behind a session use it
// for the session's user.
func (i *Issuer) User(ctx context.Context, id string) (keyward.User, error) {
	u, err := i.cfg.Store.GetUser(ctx, id)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return keyward.User{}, fmt.Errorf("%w: user deleted", ErrNoSession)
	case err != nil:
		return keyward.User{}, internal(err)
	case u.Disabled:
		return keyward.User{}, fmt.Errorf("%w: user disabled", ErrNoSession)
	}
	return u, nil
}

// PasswordMinLength is the fewest characters a new password must have
// under Config.PasswordPolicy, for the password form.
func (i *Issuer) PasswordMinLength() int { return i.cfg.PasswordPolicy.minLength() }

// TOTPAvailable reports whether TOTP can be enrolled: the issuer has a
// Sealer for the secrets.
func (i *Issuer) TOTPAvailable() bool { return i.cfg.Sealer != nil }

// passwordAlone refuses a sign-in with a password alone, which has no step
// for a second factor (first-party [Issuer.Login]), to a user who must use
// one.
func (i *Issuer) passwordAlone(ctx context.Context, u keyward.User) error {
	f, err := i.UserFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	if i.MFARequired(u, f) {
		i.audit(ctx, slog.LevelWarn, "login_refused", slog.String("user_id", u.ID), slog.String("reason", "second_factor_required"))
		return oauthError(CodeInvalidGrant, "this account signs in with a second factor, through the authorization endpoint", nil)
	}
	return nil
}

// RenewCookie replaces the value of the session cookie current, which
// must name an active session, with a new random one, and returns the new
// value, which the browser is to hold from now on: the caller (the
// server) calls it once a factor has joined the session
// ([Issuer.AddFactor]), so that a value known before the factor names no
// session after it. Otherwise someone who knows only the password could
// sign in, plant the half-signed-in session's cookie in the user's
// browser, and hold a complete session once the user presents the second
// factor in it (session fixation). It returns an error wrapping
// [ErrNoSession] when current names no active session, as after a
// concurrent renewal.
func (i *Issuer) RenewCookie(ctx context.Context, current string) (string, error) {
	s, err := i.Session(ctx, current)
	if err != nil {
		return "", err
	}
	next, err := randomString(i.cfg.Rand, 32)
	if err != nil {
		return "", internal(err)
	}
	now := i.cfg.Now()
	err = i.cfg.Store.UpdateSession(ctx, s.ID, func(v *keyward.Session) error {
		if subtle.ConstantTimeCompare(v.CookieHash, hashToken(current)) != 1 || !v.Active(now) {
			return fmt.Errorf("%w: renewed or ended meanwhile", ErrNoSession)
		}
		v.CookieHash = hashToken(next)
		return nil
	})
	switch {
	case err == nil:
		return next, nil
	case errors.Is(err, ErrNoSession):
		return "", err
	case errors.Is(err, keyward.ErrNotFound):
		return "", fmt.Errorf("%w: deleted meanwhile", ErrNoSession)
	}
	return "", internal(err)
}
