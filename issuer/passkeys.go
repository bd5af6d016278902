package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward"
)

// DefaultPasskeyCeremonyTTL is how long a WebAuthn ceremony can complete
// when [PasskeyConfig.CeremonyTTL] is zero: the time the browser gives the
// user to touch the authenticator, and then some.
const DefaultPasskeyCeremonyTTL = 5 * time.Minute

// PasskeyRemovalMaxAge is how recent a session's last sign-in must be for
// its user to remove a passkey: someone who finds a signed-in browser
// cannot take the owner's passkeys away without signing in again.
const PasskeyRemovalMaxAge = 10 * time.Minute

// MaxPasskeyNameLen caps the name a user gives a passkey, in characters.
const MaxPasskeyNameLen = 64

// maxUserHandleLen is the WebAuthn cap on a user handle (§5.4.3): a user
// whose ID is longer cannot register a passkey.
const maxUserHandleLen = 64

// ErrPasskeysUnavailable means the issuer URL is neither https nor
// http://localhost, so no browser would run a WebAuthn ceremony for it:
// passkeys need a secure context, and a relying party ID that is a domain.
var ErrPasskeysUnavailable = errors.New("issuer: passkeys need an https issuer URL with a domain name, or http://localhost")

// ErrPasskeyNotFound means the passkey does not exist or belongs to another
// user.
var ErrPasskeyNotFound = errors.New("issuer: no such passkey")

// ErrReauthenticate means the action needs a sign-in more recent than the
// session's (see [PasskeyRemovalMaxAge]).
var ErrReauthenticate = errors.New("issuer: sign in again first")

// RelyingParty returns the WebAuthn relying party ID and origin of an
// issuer URL: the ID is the URL's host name, without port, and the origin
// its scheme, host and port. Credentials are bound to the ID by the
// authenticator, and every response must come from the origin, so the
// issuer URL must be the public origin browsers load the issuer's pages
// from. It returns an error wrapping [ErrPasskeysUnavailable] unless the
// URL is https with a domain name (an IP address cannot be a relying
// party ID), or http://localhost (or a name under .localhost), which
// browsers treat as a secure context, for development.
func RelyingParty(issuerURL string) (rpID, origin string, err error) {
	u, err := url.Parse(issuerURL)
	if err != nil || u.Host == "" || u.User != nil {
		return "", "", fmt.Errorf("%w: %q is not an absolute URL", ErrPasskeysUnavailable, issuerURL)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https" && net.ParseIP(host) == nil && strings.Contains(host, ".") || u.Scheme == "https" && host == "localhost":
	case u.Scheme == "http" && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
	default:
		return "", "", fmt.Errorf("%w: %q", ErrPasskeysUnavailable, issuerURL)
	}
	origin = u.Scheme + "://" + host
	if p := u.Port(); p != "" {
		origin += ":" + p
	}
	return host, origin, nil
}

// PasskeyConfig configures [Passkeys].
type PasskeyConfig struct {
	// RPName is the name authenticators show for the issuer. Zero means
	// "keyward".
	RPName string
	// CeremonyTTL is how long a ceremony can complete after it began.
	// Zero means [DefaultPasskeyCeremonyTTL].
	CeremonyTTL time.Duration
}

// Passkeys registers users' passkeys and signs users in with them
// (WebAuthn Level 3, through github.com/go-webauthn/webauthn), for an
// [Issuer]. The relying party is the issuer URL's ([RelyingParty]).
//
// Every ceremony has a server half, a [keyward.PasskeyCeremony] in the
// store named by a random value that the browser holds (the server sets
// it in a short-lived cookie) and consumed by the first response, so that
// the challenge a response signs is the issuer's, is answered at most once,
// in the browser that asked for it, before it expires. It is safe for
// concurrent use.
type Passkeys struct {
	iss    *Issuer
	wa     *webauthn.WebAuthn
	rpID   string
	origin string
	ttl    time.Duration
}

// NewPasskeys returns passkeys for i. It returns an error wrapping
// [ErrPasskeysUnavailable] when i's URL cannot be a relying party.
func NewPasskeys(i *Issuer, cfg PasskeyConfig) (*Passkeys, error) {
	if i == nil {
		return nil, errors.New("issuer: NewPasskeys needs an issuer")
	}
	if cfg.CeremonyTTL < 0 {
		return nil, errors.New("issuer: negative PasskeyConfig.CeremonyTTL")
	}
	if cfg.CeremonyTTL == 0 {
		cfg.CeremonyTTL = DefaultPasskeyCeremonyTTL
	}
	if cfg.RPName == "" {
		cfg.RPName = "keyward"
	}
	rpID, origin, err := RelyingParty(i.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	timeout := webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: cfg.RPName, RPOrigins: []string{origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("issuer: passkeys: %w", err)
	}
	return &Passkeys{iss: i, wa: wa, rpID: rpID, origin: origin, ttl: cfg.CeremonyTTL}, nil
}

// RPID returns the relying party ID, the host every passkey is bound to.
func (p *Passkeys) RPID() string { return p.rpID }

// Origin returns the one origin the ceremonies' responses may come from.
func (p *Passkeys) Origin() string { return p.origin }

// CeremonyTTL returns how long a ceremony can complete, the lifetime of
// the cookie that names it.
func (p *Passkeys) CeremonyTTL() time.Duration { return p.ttl }

// passkeyUser is a user and its passkeys as go-webauthn sees them.
type passkeyUser struct {
	u     keyward.User
	creds []webauthn.Credential
}

func (w passkeyUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w passkeyUser) WebAuthnName() string                       { return w.u.Username }
func (w passkeyUser) WebAuthnDisplayName() string                { return w.u.Username }
func (w passkeyUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// credentialOf is the go-webauthn form of a stored passkey.
func credentialOf(pk keyward.Passkey) webauthn.Credential {
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent
	if pk.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if pk.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if pk.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(pk.Transports))
	for i, t := range pk.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: pk.ID, PublicKey: pk.PublicKey, AttestationFormat: pk.AttestationFormat, Transport: transports,
		Flags:         webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: pk.AAGUID, SignCount: pk.SignCount},
	}
}

// loadPasskeyUser returns the user with the ID and its passkeys.
func (p *Passkeys) loadPasskeyUser(ctx context.Context, userID string) (passkeyUser, []keyward.Passkey, error) {
	u, err := p.iss.cfg.Store.GetUser(ctx, userID)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	pks, err := p.iss.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	w := passkeyUser{u: u}
	for _, pk := range pks {
		w.creds = append(w.creds, credentialOf(pk))
	}
	return w, pks, nil
}

// challenge draws a WebAuthn challenge from the issuer's random source
// rather than the library's.
func (p *Passkeys) challenge() (protocol.URLEncodedBase64, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(randOrDefault(p.iss.cfg.Rand), b); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return b, nil
}

// startCeremony stores the server half of a ceremony and returns the
// value naming it, for the browser's cookie.
func (p *Passkeys) startCeremony(ctx context.Context, kind keyward.PasskeyCeremonyKind, userID, sessionID string, sd *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return "", err
	}
	name, err := randomString(p.iss.cfg.Rand, 32)
	if err != nil {
		return "", err
	}
	err = p.iss.cfg.Store.CreatePasskeyCeremony(ctx, keyward.PasskeyCeremony{
		Hash: hashToken(name), Kind: kind, UserID: userID, SessionID: sessionID, Data: data,
		ExpiresAt: p.iss.cfg.Now().Add(p.ttl),
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// errCeremony is the answer to a response whose ceremony is unknown,
// consumed, expired or of another kind, session or user.
func errCeremony(cause error) *Error {
	return oauthError(CodeInvalidRequest, "the passkey request expired or was already answered; try again", cause)
}

// endCeremony consumes the ceremony named by the browser's value and
// returns it with its go-webauthn data, after checking its kind.
func (p *Passkeys) endCeremony(ctx context.Context, name string, kind keyward.PasskeyCeremonyKind) (keyward.PasskeyCeremony, webauthn.SessionData, error) {
	if name == "" || len(name) > 128 {
		return keyward.PasskeyCeremony{}, webauthn.SessionData{}, errCeremony(errors.New("no ceremony cookie"))
	}
	c, err := p.iss.cfg.Store.ConsumePasskeyCeremony(ctx, hashToken(name), p.iss.cfg.Now())
	switch {
	case errors.Is(err, keyward.ErrNotFound), errors.Is(err, keyward.ErrExpired):
		return keyward.PasskeyCeremony{}, webauthn.SessionData{}, errCeremony(err)
	case err != nil:
		return keyward.PasskeyCeremony{}, webauthn.SessionData{}, internal(err)
	}
	if c.Kind != kind {
		return keyward.PasskeyCeremony{}, webauthn.SessionData{}, errCeremony(fmt.Errorf("ceremony of kind %q", c.Kind))
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return keyward.PasskeyCeremony{}, webauthn.SessionData{}, internal(fmt.Errorf("passkey ceremony data: %w", err))
	}
	return c, sd, nil
}

// BeginRegistration starts the registration of a passkey by the user of
// session s (WebAuthn §7.1): it returns the creation options for
// navigator.credentials.create, as JSON ({"publicKey": {...}}), and the
// value naming the ceremony, which the browser must present with its
// response. The options require a discoverable credential (a passkey,
// which signs in without a username), prefer user verification, ask for no
// attestation, and exclude the user's passkeys, so that an authenticator
// holding one is not registered twice.
func (p *Passkeys) BeginRegistration(ctx context.Context, s keyward.Session) (options []byte, ceremony string, err error) {
	w, _, err := p.loadPasskeyUser(ctx, s.UserID)
	if err != nil {
		return nil, "", internal(err)
	}
	if len(w.WebAuthnID()) > maxUserHandleLen {
		return nil, "", oauthError(CodeInvalidRequest, "this account cannot register passkeys: its ID is longer than a WebAuthn user handle", nil)
	}
	ch, err := p.challenge()
	if err != nil {
		return nil, "", internal(err)
	}
	creation, sd, err := p.wa.BeginRegistration(w,
		func(o *protocol.PublicKeyCredentialCreationOptions) error { o.Challenge = ch; return nil },
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, "", internal(err)
	}
	options, err = json.Marshal(creation)
	if err != nil {
		return nil, "", internal(err)
	}
	if ceremony, err = p.startCeremony(ctx, keyward.PasskeyRegistration, s.UserID, s.ID, sd); err != nil {
		return nil, "", internal(err)
	}
	return options, ceremony, nil
}

// FinishRegistration checks the browser's response to the registration
// ceremony it names, begun by [Passkeys.BeginRegistration] in the same
// session s, and stores the new passkey with the name (trimmed, at most
// [MaxPasskeyNameLen] characters; empty means "Passkey"). The response must
// sign the ceremony's challenge for the issuer's relying party ID, from its
// origin, with user presence; a credential already registered, to this
// user or another, is refused. A ceremony is consumed by its first
// response, good or bad. The new passkey joins the session's factors
// ([Issuer.AddFactor] with [MethodHardwareKey] or [MethodSoftwareKey]).
func (p *Passkeys) FinishRegistration(ctx context.Context, s keyward.Session, ceremony, name string, response []byte) (keyward.Passkey, error) {
	name, err := passkeyName(name)
	if err != nil {
		return keyward.Passkey{}, err
	}
	c, sd, err := p.endCeremony(ctx, ceremony, keyward.PasskeyRegistration)
	if err != nil {
		return keyward.Passkey{}, err
	}
	if c.SessionID != s.ID || c.UserID != s.UserID {
		return keyward.Passkey{}, errCeremony(errors.New("ceremony of another session"))
	}
	refused := func(cause error) (keyward.Passkey, error) {
		p.iss.audit(ctx, slog.LevelWarn, "passkey_registration_failed", slog.String("user_id", s.UserID), slog.String("error", describe(cause)))
		return keyward.Passkey{}, oauthError(CodeInvalidRequest, "the passkey could not be registered", cause)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return refused(err)
	}
	w, _, err := p.loadPasskeyUser(ctx, s.UserID)
	if err != nil {
		return keyward.Passkey{}, internal(err)
	}
	cred, err := p.wa.CreateCredential(w, sd, parsed)
	if err != nil {
		return refused(err)
	}
	pk := keyward.Passkey{
		ID: cred.ID, UserID: s.UserID, Name: name, PublicKey: cred.PublicKey, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		CreatedAt: p.iss.cfg.Now(),
	}
	for _, t := range cred.Transport {
		pk.Transports = append(pk.Transports, string(t))
	}
	switch err := p.iss.cfg.Store.CreatePasskey(ctx, pk); {
	case errors.Is(err, keyward.ErrConflict):
		return refused(errors.New("credential already registered"))
	case errors.Is(err, keyward.ErrInvalid):
		return refused(err)
	case err != nil:
		return keyward.Passkey{}, internal(err)
	}
	p.iss.audit(ctx, slog.LevelInfo, "passkey_registered", slog.String("user_id", s.UserID),
		slog.String("passkey_id", keyward.PasskeyLogID(pk.ID)), slog.Bool("backup_eligible", pk.BackupEligible),
		slog.Bool("user_verified", pk.UserVerified))
	// The ceremony proved that the user holds the new key: it joins the
	// session's factors, as a TOTP enrolment's first code does, so that a
	// user who now owes a second factor keeps the session that added it.
	method := MethodHardwareKey
	if pk.BackupEligible {
		method = MethodSoftwareKey
	}
	if _, err := p.iss.AddFactor(ctx, s.ID, method); err != nil && !errors.Is(err, ErrNoSession) {
		return keyward.Passkey{}, err
	}
	return pk, nil
}

// describe is the text of a go-webauthn error for the log: its details,
// which say which check failed, rather than its generic message.
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Type + ": " + pe.Details
	}
	return err.Error()
}

// passkeyName checks and tidies the name a user gives a passkey.
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", oauthError(CodeInvalidRequest, fmt.Sprintf("a passkey name is at most %d characters of text", MaxPasskeyNameLen), nil)
	}
	return name, nil
}

// BeginLogin starts a sign-in with a passkey (WebAuthn §7.2) and returns
// the request options for navigator.credentials.get, as JSON
// ({"publicKey": {...}}), and the value naming the ceremony. With an empty
// userID it is a sign-in with a passkey alone: the options list no
// credential (the browser offers the user's discoverable credentials for
// the relying party, in a modal prompt or, with conditional mediation, in
// the username field's autofill) and the credential's user handle names
// the user. With a userID, that of a user who gave a password, the passkey
// is the second factor: the options list the user's passkeys and only they
// are accepted. User verification is preferred.
func (p *Passkeys) BeginLogin(ctx context.Context, userID string) (options []byte, ceremony string, err error) {
	ch, err := p.challenge()
	if err != nil {
		return nil, "", internal(err)
	}
	var (
		assertion *protocol.CredentialAssertion
		sd        *webauthn.SessionData
	)
	if userID == "" {
		assertion, sd, err = p.wa.BeginDiscoverableLogin(webauthn.WithChallenge(ch))
	} else {
		w, _, lerr := p.loadPasskeyUser(ctx, userID)
		if lerr != nil {
			return nil, "", internal(lerr)
		}
		if len(w.creds) == 0 {
			return nil, "", oauthError(CodeInvalidRequest, "the user has no passkey", nil)
		}
		assertion, sd, err = p.wa.BeginLogin(w, webauthn.WithChallenge(ch))
	}
	if err != nil {
		return nil, "", internal(err)
	}
	options, err = json.Marshal(assertion)
	if err != nil {
		return nil, "", internal(err)
	}
	if ceremony, err = p.startCeremony(ctx, keyward.PasskeyLogin, userID, "", sd); err != nil {
		return nil, "", internal(err)
	}
	return options, ceremony, nil
}

// PasskeyLoginRequest is the browser's answer to a passkey sign-in
// ceremony.
type PasskeyLoginRequest struct {
	// Ceremony is the value naming the ceremony, from the browser's cookie.
	Ceremony string
	// Response is the PublicKeyCredential the browser returned, as JSON
	// (WebAuthn §5.1, AuthenticationResponseJSON).
	Response []byte
	// RemoteAddr is the client's address, for the throttle, as in
	// [LoginRequest].
	RemoteAddr string
	// UserAgent is the browser's User-Agent header, for the label of the
	// session a sign-in opens ([DeviceLabel]).
	UserAgent string
}

// PasskeyLogin is a successful passkey sign-in.
type PasskeyLogin struct {
	// User is the user signed in.
	User keyward.User
	// Passkey is the passkey used, as stored after the sign-in.
	Passkey keyward.Passkey
	// UserVerified reports whether the authenticator verified the user
	// in this ceremony (the UV flag).
	UserVerified bool
	// SecondFactor reports whether the ceremony was begun for a user who
	// gave a password ([Passkeys.BeginLogin] with a user ID).
	SecondFactor bool
}

// Methods returns the authentication methods (RFC 8176 §2) the sign-in
// proved, for [Issuer.CompleteLogin]:
//   - [MethodHardwareKey] when the credential is bound to its
//     authenticator (not backup eligible: a security key, a platform
//     authenticator that does not sync), else [MethodSoftwareKey] (a
//     synced passkey, whose key may be copied to other devices), as the BE
//     flag the authenticator signs says;
//   - [MethodUserPresence]: the authenticator tested the user's presence,
//     as every accepted assertion shows (the UP flag);
//   - [MethodPIN] when the authenticator also verified the user (the UV
//     flag), with a PIN or a biometric, which WebAuthn does not tell apart:
//     reported as the knowledge factor, so that a passkey with user
//     verification is two factors ([AMRFor] adds [MethodMFA]) and meets
//     the phishing-resistant class ([ACRFor]).
func (l PasskeyLogin) Methods() []string {
	m := []string{l.KeyMethod(), MethodUserPresence}
	if l.UserVerified {
		m = append(m, MethodPIN)
	}
	return m
}

// KeyMethod returns [MethodHardwareKey] or [MethodSoftwareKey], as
// [PasskeyLogin.Methods] chooses.
func (l PasskeyLogin) KeyMethod() string {
	if l.Passkey.BackupEligible {
		return MethodSoftwareKey
	}
	return MethodHardwareKey
}

// AMR returns the amr of a session opened by the sign-in alone:
// [AMRFor] of [PasskeyLogin.Methods].
func (l PasskeyLogin) AMR() []string { return AMRFor(l.Methods()) }

// errPasskeyLogin is the one answer to a failed passkey sign-in, whatever
// failed; the cause goes to the log.
func errPasskeyLogin(cause error) *Error {
	return oauthError(CodeInvalidGrant, "the passkey sign-in failed", cause)
}

// errSignCount means an assertion's signature counter did not advance past
// the stored one: a cloned authenticator, or a replay.
var errSignCount = errors.New("signature counter did not advance")

// FinishLogin checks the browser's answer to a passkey sign-in begun by
// [Passkeys.BeginLogin], consuming its ceremony, and returns the user it
// signs in. It opens no session (see [Passkeys.SignIn]). It refuses, all
// with the same [CodeInvalidGrant] error and a login_failed audit line
// saying why:
//   - a ceremony that is unknown, already answered (a replayed assertion),
//     expired, or not a sign-in;
//   - an assertion that does not verify: another challenge, another relying
//     party ID (the authenticator binds each credential to one), another
//     origin, no user presence, a bad signature;
//   - a credential that is not registered, a user handle that is not the
//     credential's owner's, a credential not among the user's for a second
//     factor, a user who is disabled or deleted;
//   - a signature counter that did not advance past the stored one, unless
//     both are zero (authenticators that keep no counter send zero): a
//     cloned authenticator or a replay, logged as passkey_clone_suspected;
//   - a backup eligibility flag that differs from the registration's.
//
// Attempts are throttled like password logins ([ThrottleConfig]), per
// account (the credential's owner, when the credential is known) and
// client network; past the limits they fail with [CodeSlowDown] before any
// signature is checked.
func (p *Passkeys) FinishLogin(ctx context.Context, req PasskeyLoginRequest) (PasskeyLogin, error) {
	i := p.iss
	now := i.cfg.Now()
	addr := hostOf(req.RemoteAddr)
	fail := func(reason string, who []slog.Attr, cause error) (PasskeyLogin, error) {
		attrs := append(who, slog.String("client_addr", addr), slog.String("method", "passkey"), slog.String("reason", reason))
		if cause != nil {
			attrs = append(attrs, slog.String("error", describe(cause)))
		}
		i.audit(ctx, slog.LevelWarn, "login_failed", attrs...)
		i.observeLogin("invalid_credentials")
		return PasskeyLogin{}, errPasskeyLogin(cause)
	}
	parsed, perr := protocol.ParseCredentialRequestResponseBytes(req.Response)
	// The account the attempt is throttled under: the credential's owner,
	// when the credential is known, so that guesses at one account from
	// one network slow down as password guesses do.
	var (
		owner    keyward.User
		stored   keyward.Passkey
		known    bool
		username string
	)
	if perr == nil {
		pk, err := i.cfg.Store.GetPasskey(ctx, parsed.RawID)
		switch {
		case err == nil:
			stored, known = pk, true
			u, err := i.cfg.Store.GetUser(ctx, pk.UserID)
			switch {
			case err == nil:
				owner, username = u, u.Username
			case !errors.Is(err, keyward.ErrNotFound):
				return PasskeyLogin{}, internal(err)
			}
		case !errors.Is(err, keyward.ErrNotFound):
			return PasskeyLogin{}, internal(err)
		}
	}
	if !i.cfg.Throttle.InsecureDisableThrottle {
		account := throttleAccount(username)
		if username == "" {
			account = "\x00passkey" // unknown credentials share one account bucket per network
		}
		wait, err := i.throttle.take(ctx, account, ClientNetwork(req.RemoteAddr), "", now)
		if err != nil {
			return PasskeyLogin{}, i.throttleUnavailable(ctx, err)
		}
		if wait > 0 {
			i.audit(ctx, slog.LevelWarn, "login_failed", slog.String("client_addr", addr), slog.String("method", "passkey"),
				slog.String("reason", "throttled"))
			i.observeLogin("throttled")
			return PasskeyLogin{}, &Error{Code: CodeSlowDown, Description: "too many sign-in attempts; retry later", RetryAfter: wait}
		}
	}
	c, sd, err := p.endCeremony(ctx, req.Ceremony, keyward.PasskeyLogin)
	if err != nil {
		var oe *Error
		if errors.As(err, &oe) && oe.Code == CodeInvalidRequest {
			return fail("no_ceremony", nil, err)
		}
		return PasskeyLogin{}, err
	}
	if perr != nil {
		return fail("malformed_response", nil, perr)
	}
	who := []slog.Attr{slog.String("passkey_id", keyward.PasskeyLogID(parsed.RawID))}
	if !known {
		return fail("unknown_passkey", who, nil)
	}
	who = append(who, slog.String("user_id", stored.UserID))
	if owner.ID == "" || owner.Disabled {
		return fail("disabled", who, nil)
	}
	if c.UserID != "" && c.UserID != owner.ID {
		return fail("other_user", who, nil)
	}
	if h := parsed.Response.UserHandle; len(h) > 0 && !bytes.Equal(h, []byte(owner.ID)) || c.UserID == "" && len(h) == 0 {
		return fail("user_handle", who, nil)
	}
	w, _, err := p.loadPasskeyUser(ctx, owner.ID)
	if err != nil {
		return PasskeyLogin{}, internal(err)
	}
	var cred *webauthn.Credential
	if c.UserID == "" {
		_, cred, err = p.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) { return w, nil }, sd, parsed)
	} else {
		cred, err = p.wa.ValidateLogin(w, sd, parsed)
	}
	if err != nil {
		return fail("bad_assertion", who, err)
	}
	count := parsed.Response.AuthenticatorData.Counter
	var updated keyward.Passkey
	err = i.cfg.Store.UpdatePasskey(ctx, stored.ID, func(pk *keyward.Passkey) error {
		// Checked again against the stored count inside the store's
		// transaction: of two assertions with one counter value racing,
		// the second fails.
		if cred.Authenticator.CloneWarning || (count != 0 || pk.SignCount != 0) && count <= pk.SignCount {
			return fmt.Errorf("%w: %d after %d", errSignCount, count, pk.SignCount)
		}
		pk.SignCount, pk.BackupState, pk.LastUsedAt = count, cred.Flags.BackupState, now
		updated = *pk
		return nil
	})
	switch {
	case errors.Is(err, errSignCount):
		i.audit(ctx, slog.LevelWarn, "passkey_clone_suspected", append(who, slog.Uint64("sign_count", uint64(count)),
			slog.Uint64("stored_sign_count", uint64(stored.SignCount)))...)
		return fail("sign_count", who, err)
	case errors.Is(err, keyward.ErrNotFound):
		return fail("unknown_passkey", who, nil) // removed meanwhile
	case err != nil:
		return PasskeyLogin{}, internal(err)
	}
	uv := parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	i.audit(ctx, slog.LevelInfo, "login_succeeded", slog.String("user_id", owner.ID), slog.String("username", owner.Username),
		slog.String("client_addr", addr), slog.String("method", "passkey"), slog.String("passkey_id", keyward.PasskeyLogID(stored.ID)),
		slog.Bool("user_verified", uv))
	i.observeLogin("success")
	return PasskeyLogin{User: owner, Passkey: updated, UserVerified: uv, SecondFactor: c.UserID != ""}, nil
}

// ListPasskeys returns the user's passkeys, oldest first.
func (p *Passkeys) ListPasskeys(ctx context.Context, userID string) ([]keyward.Passkey, error) {
	pks, err := p.iss.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, internal(err)
	}
	return pks, nil
}

// RenamePasskey gives the user's passkey with the credential ID a new name
// (as [Passkeys.FinishRegistration] tidies it). It returns an error
// wrapping [ErrPasskeyNotFound] when the user has no such passkey.
func (p *Passkeys) RenamePasskey(ctx context.Context, userID string, id []byte, name string) error {
	name, err := passkeyName(name)
	if err != nil {
		return err
	}
	err = p.iss.cfg.Store.UpdatePasskey(ctx, id, func(pk *keyward.Passkey) error {
		if pk.UserID != userID {
			return ErrPasskeyNotFound
		}
		if pk.Name == name {
			return keyward.ErrNoChange
		}
		pk.Name = name
		return nil
	})
	switch {
	case errors.Is(err, keyward.ErrNotFound), errors.Is(err, ErrPasskeyNotFound):
		return ErrPasskeyNotFound
	case err != nil:
		return internal(err)
	}
	p.iss.audit(ctx, slog.LevelInfo, "passkey_renamed", slog.String("user_id", userID), slog.String("passkey_id", keyward.PasskeyLogID(id)))
	return nil
}

// RemovePasskey removes the passkey with the credential ID of the user of
// session s. The user must have signed in within [PasskeyRemovalMaxAge]
// (the session's AuthTime): otherwise it returns [ErrReauthenticate] and
// removes nothing. It returns an error wrapping [ErrPasskeyNotFound] when
// the user has no such passkey.
func (p *Passkeys) RemovePasskey(ctx context.Context, s keyward.Session, id []byte) error {
	if p.iss.NeedsLogin(s, PasskeyRemovalMaxAge) {
		return ErrReauthenticate
	}
	pk, err := p.iss.cfg.Store.GetPasskey(ctx, id)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return ErrPasskeyNotFound
	case err != nil:
		return internal(err)
	case pk.UserID != s.UserID:
		return ErrPasskeyNotFound
	}
	switch err := p.iss.cfg.Store.DeletePasskey(ctx, id); {
	case errors.Is(err, keyward.ErrNotFound):
		return ErrPasskeyNotFound
	case err != nil:
		return internal(err)
	}
	p.iss.audit(ctx, slog.LevelInfo, "passkey_removed", slog.String("user_id", s.UserID), slog.String("passkey_id", keyward.PasskeyLogID(id)))
	return nil
}

// SignIn is [Passkeys.FinishLogin] of a sign-in with a passkey alone
// ([Passkeys.BeginLogin] without a user) followed by
// [Issuer.CompleteLogin] with [PasskeyLogin.Methods], which opens the
// browser's session (the browser presents the session cookie value
// current, "" for none). It returns the cookie value the browser is to
// hold, the session, and the sign-in. The session may still lack a second
// factor ([Issuer.Requirement]): a passkey without user verification is
// one factor.
func (p *Passkeys) SignIn(ctx context.Context, req PasskeyLoginRequest, current string) (string, keyward.Session, PasskeyLogin, error) {
	l, err := p.FinishLogin(ctx, req)
	if err != nil {
		return "", keyward.Session{}, PasskeyLogin{}, err
	}
	if l.SecondFactor {
		return "", keyward.Session{}, PasskeyLogin{}, errPasskeyLogin(errors.New("a second-factor ceremony used to sign in"))
	}
	cookie, s, err := p.iss.CompleteLogin(ctx, l.User, l.Methods(), current, req.UserAgent)
	if err != nil {
		return "", keyward.Session{}, PasskeyLogin{}, err
	}
	return cookie, s, l, nil
}

// VerifySecondFactor is [Passkeys.FinishLogin] of a second-factor
// ceremony ([Passkeys.BeginLogin] with the user of session s), followed by
// [Issuer.AddFactor] with [PasskeyLogin.KeyMethod]: after a password, the
// session's amr becomes pwd, hwk (or swk), mfa. It returns the updated
// session. A ceremony of another user, or one begun without a user, is
// refused as a failed sign-in.
func (p *Passkeys) VerifySecondFactor(ctx context.Context, s keyward.Session, req PasskeyLoginRequest) (keyward.Session, error) {
	l, err := p.FinishLogin(ctx, req)
	if err != nil {
		return keyward.Session{}, err
	}
	if !l.SecondFactor || l.User.ID != s.UserID {
		p.iss.audit(ctx, slog.LevelWarn, "login_failed", slog.String("user_id", l.User.ID), slog.String("method", "passkey"),
			slog.String("reason", "not_this_session"))
		return keyward.Session{}, errPasskeyLogin(errors.New("ceremony of another user or not a second factor"))
	}
	return p.iss.AddFactor(ctx, s.ID, l.KeyMethod())
}
