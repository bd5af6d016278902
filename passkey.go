package keyward

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"
)

// MaxPasskeyIDLen is the longest credential ID a store accepts, in bytes:
// WebAuthn Level 3 §5.8.3 caps a credential ID at 1023 bytes, and a relying
// party refuses longer ones, which an authenticator never makes.
const MaxPasskeyIDLen = 1023

// Passkey is a WebAuthn public-key credential (a passkey or a security key)
// registered by a user, with which the user signs in to the issuer instead
// of, or after, a password.
type Passkey struct {
	// ID is the credential ID the authenticator chose, unique in the store
	// across every user: a credential ID names one credential of one user.
	ID []byte
	// UserID is the user who registered it. Its WebAuthn user handle is
	// the bytes of UserID.
	UserID string
	// Name is a label the user chose ("laptop", "phone"), shown on the
	// account page.
	Name string
	// PublicKey is the credential's public key as a COSE_Key (RFC 9052
	// §7), as the authenticator gave it at registration.
	PublicKey []byte
	// AttestationFormat is the attestation statement format of the
	// registration ("none", "packed", ...).
	AttestationFormat string
	// AAGUID is the 16-byte model identifier of the authenticator, all
	// zeros when it gave none.
	AAGUID []byte
	// SignCount is the signature counter of the latest accepted assertion
	// (WebAuthn §6.1.1). An assertion with a counter that does not exceed
	// it, unless both are zero, comes from a cloned authenticator or is a
	// replay, and is refused.
	SignCount uint32
	// Transports are the transports the browser reported ("internal",
	// "hybrid", "usb", ...), hints for later ceremonies.
	Transports []string
	// UserVerified records that the authenticator verified the user (PIN,
	// biometrics) at registration.
	UserVerified bool
	// BackupEligible is the BE flag: the credential can be synced to other
	// devices (a multi-device passkey). It never changes for a credential;
	// an assertion that says otherwise is refused.
	BackupEligible bool
	// BackupState is the BS flag of the latest ceremony: the credential is
	// backed up (synced) now.
	BackupState bool
	// CreatedAt is when it was registered; set by the store when zero.
	CreatedAt time.Time
	// LastUsedAt is when it last signed the user in; zero means never.
	LastUsedAt time.Time
}

// LogValue implements [slog.LogValuer]; it leaves out the public key and
// the name, which the user typed.
func (p Passkey) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("passkey_id", PasskeyLogID(p.ID)),
		slog.String("user_id", p.UserID),
	)
}

// PasskeyLogID returns the short form of a credential ID that log lines
// carry: its first 8 bytes in hex, enough to tell a user's passkeys apart.
func PasskeyLogID(id []byte) string {
	const hexdigits = "0123456789abcdef"
	n := min(len(id), 8)
	out := make([]byte, 0, 2*n)
	for _, b := range id[:n] {
		out = append(out, hexdigits[b>>4], hexdigits[b&0xf])
	}
	return string(out)
}

// Validate checks what a new passkey needs before it is stored: a
// credential ID of at most [MaxPasskeyIDLen] bytes, by which an assertion
// finds it, a user, and a public key, without which no assertion verifies.
// It returns an error wrapping [ErrInvalid] otherwise.
func (p Passkey) Validate() error {
	if len(p.ID) == 0 || len(p.ID) > MaxPasskeyIDLen || p.UserID == "" || len(p.PublicKey) == 0 {
		return fmt.Errorf("empty or oversized credential id, empty user or empty public key: %w", ErrInvalid)
	}
	return nil
}

// CheckPasskeyUpdate checks the result next of an update function given to
// [PasskeyStore.UpdatePasskey] against the stored passkey old: the
// credential ID, its user, its public key, its backup eligibility and its
// registration time never change, so that an update can neither move a
// credential to another user nor swap the key that assertions are checked
// with. It returns an error wrapping [ErrInvalid] otherwise.
func CheckPasskeyUpdate(old, next Passkey) error {
	if !bytes.Equal(next.ID, old.ID) || next.UserID != old.UserID || !bytes.Equal(next.PublicKey, old.PublicKey) ||
		next.BackupEligible != old.BackupEligible || !next.CreatedAt.Equal(old.CreatedAt) {
		return fmt.Errorf("id, user, public key, backup eligibility or creation changed: %w", ErrInvalid)
	}
	return nil
}

// PasskeyCeremonyKind names the WebAuthn ceremony a [PasskeyCeremony] is
// the server's half of.
type PasskeyCeremonyKind string

// The kinds of [PasskeyCeremony].
const (
	// PasskeyRegistration is the registration of a new passkey by a
	// signed-in user (WebAuthn §7.1).
	PasskeyRegistration PasskeyCeremonyKind = "register"
	// PasskeyLogin is a sign-in with a passkey (WebAuthn §7.2): alone,
	// with a discoverable credential, or as the second factor of a user
	// who gave a password.
	PasskeyLogin PasskeyCeremonyKind = "login"
)

// Valid reports whether k is one of the defined kinds.
func (k PasskeyCeremonyKind) Valid() bool { return k == PasskeyRegistration || k == PasskeyLogin }

// PasskeyCeremony is the server-side state of one WebAuthn ceremony under
// way: the challenge the issuer drew and what the response must match. The
// browser holds only a random value naming it, in a short-lived cookie;
// the store holds its hash. A ceremony is consumed by its first response,
// so that a challenge is answered at most once and a replayed assertion
// finds nothing.
type PasskeyCeremony struct {
	// Hash is the SHA-256 of the cookie value that names the ceremony.
	Hash []byte
	// Kind is the ceremony.
	Kind PasskeyCeremonyKind
	// UserID is the user registering, or the user who gave a password and
	// signs in with a passkey as the second factor; empty for a sign-in
	// with a passkey alone, where the credential names the user.
	UserID string
	// SessionID is the issuer session the ceremony belongs to, when one
	// started it: a registration belongs to the session of the signed-in
	// user, and completes only in it.
	SessionID string
	// Data is the issuer's encoding of the ceremony's parameters, the
	// challenge among them; the store keeps it as it is.
	Data []byte
	// ExpiresAt is when the ceremony can no longer complete.
	ExpiresAt time.Time
}

// Validate checks what a new ceremony needs before it is stored: a hash, by
// which the browser's response finds it, a known kind and data. It returns
// an error wrapping [ErrInvalid] otherwise.
func (c PasskeyCeremony) Validate() error {
	if len(c.Hash) == 0 || !c.Kind.Valid() || len(c.Data) == 0 {
		return fmt.Errorf("empty hash, unknown kind %q or empty data: %w", c.Kind, ErrInvalid)
	}
	return nil
}

// PasskeyStore persists users' passkeys and the WebAuthn ceremonies under
// way. Passkeys are second factors: a backend's
// [MFAStore.DeleteUserFactors] deletes the user's passkeys and ceremonies
// too, as [PasskeyStore.DeleteUserPasskeys] does, so that resetting a
// user's factors leaves no passkey behind.
type PasskeyStore interface {
	// CreatePasskey stores a new passkey. It returns an error wrapping
	// ErrInvalid when [Passkey.Validate] fails, ErrConflict when a passkey
	// with the credential ID exists (whoever's it is), and ErrNotFound when
	// the user does not exist. The store sets CreatedAt when zero.
	CreatePasskey(ctx context.Context, p Passkey) error
	// GetPasskey returns the passkey with the credential ID, or an error
	// wrapping ErrNotFound.
	GetPasskey(ctx context.Context, id []byte) (Passkey, error)
	// ListPasskeys returns the user's passkeys ordered by CreatedAt, then
	// ID; none is not an error.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// UpdatePasskey runs fn on the stored passkey inside one transaction
	// and stores the result, so that of two assertions racing with one
	// credential the second sees the first one's SignCount. fn must not
	// call the store; it may be called more than once when the
	// transaction is retried. When fn returns an error nothing is written
	// and the error is returned, except ErrNoChange, which makes
	// UpdatePasskey return nil. It returns an error wrapping ErrNotFound
	// when the passkey does not exist and ErrInvalid when
	// [CheckPasskeyUpdate] fails.
	UpdatePasskey(ctx context.Context, id []byte, fn func(*Passkey) error) error
	// DeletePasskey removes the passkey. It returns an error wrapping
	// ErrNotFound when it does not exist.
	DeletePasskey(ctx context.Context, id []byte) error
	// DeleteUserPasskeys removes every passkey of the user, and the
	// ceremonies under way for the user, and returns how many passkeys it
	// removed.
	DeleteUserPasskeys(ctx context.Context, userID string) (int, error)
	// CreatePasskeyCeremony stores a ceremony under way. It returns an
	// error wrapping ErrInvalid when [PasskeyCeremony.Validate] fails and
	// ErrConflict when the hash exists.
	CreatePasskeyCeremony(ctx context.Context, c PasskeyCeremony) error
	// ConsumePasskeyCeremony deletes the ceremony with the hash and
	// returns it, atomically, so that a ceremony is consumed at most once:
	// of concurrent calls with one hash, in one process or several, one
	// gets the ceremony and the others ErrNotFound. It returns an error
	// wrapping ErrNotFound when no ceremony has the hash, and ErrExpired,
	// with the ceremony (deleted all the same), when now is at or past its
	// ExpiresAt.
	ConsumePasskeyCeremony(ctx context.Context, hash []byte, now time.Time) (PasskeyCeremony, error)
	// DeleteExpiredPasskeyCeremonies deletes the ceremonies whose
	// ExpiresAt is at or before now and returns how many it deleted.
	DeleteExpiredPasskeyCeremonies(ctx context.Context, now time.Time) (int, error)
}
