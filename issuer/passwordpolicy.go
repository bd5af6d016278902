package issuer

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/keyward/keyward"
)

// Password lengths of [PasswordPolicy], in characters: Unicode code points
// of the password's NFC form.
const (
	// DefaultMinPasswordLength is the minimum length of a zero
	// PasswordPolicy.
	DefaultMinPasswordLength = 12
	// LowestMinPasswordLength is the lowest minimum a policy may set: NIST
	// SP 800-63B §3.1.1.2 requires at least 8 characters.
	LowestMinPasswordLength = 8
	// MaxPasswordLength is the longest password a policy accepts. NIST SP
	// 800-63B asks that at least 64 be allowed.
	MaxPasswordLength = 128
)

// ErrPasswordRefused is wrapped by the errors of [PasswordPolicy.Check] for a
// password the policy refuses; the error says why.
var ErrPasswordRefused = errors.New("issuer: password refused")

// breached holds common passwords found in breaches, one a line, lowercase;
// lines starting with "#" are comments. See the file's header for where the
// list comes from.
//
//go:embed breached.txt
var breached string

// PasswordPolicy is the rule a password chosen by a person must pass, after
// NIST SP 800-63B §3.1.1.2: a minimum and a maximum length, counted in
// Unicode code points of the password's NFC form (so a letter with an
// accent is one character however it was typed); not in a list of common
// passwords found in breaches (compared case-insensitively); not one
// character repeated. There are no composition rules (no required digits or
// symbols) and no expiry, as NIST advises. The password itself is hashed as
// given, so existing hashes keep verifying.
//
// The policy applies where a person chooses a password: "keyward user add
// --password-stdin", "keyward user passwd --password-stdin" and
// [SetPassword], the one function for any other path that changes a
// password. Passwords made by [NewPassword] carry 128 random bits and are
// not checked. [NewUser] and [HashPassword] apply no policy: their callers
// check first.
type PasswordPolicy struct {
	// MinLength is the fewest characters a password may have. Zero means
	// [DefaultMinPasswordLength]; [PasswordPolicy.Validate] refuses values
	// under [LowestMinPasswordLength] or over [MaxPasswordLength].
	MinLength int
}

func (p PasswordPolicy) minLength() int {
	if p.MinLength == 0 {
		return DefaultMinPasswordLength
	}
	return p.MinLength
}

// Validate reports whether the policy's settings are within bounds.
func (p PasswordPolicy) Validate() error {
	if n := p.minLength(); n < LowestMinPasswordLength || n > MaxPasswordLength {
		return fmt.Errorf("issuer: a minimum password length of %d is out of bounds: it must be %d to %d", p.MinLength, LowestMinPasswordLength, MaxPasswordLength)
	}
	return nil
}

// Check returns nil when password passes the policy, an error wrapping
// [ErrPasswordRefused] that says why when it does not, and the error of
// [PasswordPolicy.Validate] for a policy out of bounds. The error never
// holds the password.
func (p PasswordPolicy) Check(password string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("%w: too long: the maximum is %d characters", ErrPasswordRefused, MaxPasswordLength)
	}
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: it is not valid UTF-8 text", ErrPasswordRefused)
	}
	nfc := norm.NFC.String(password)
	n := utf8.RuneCountInString(nfc)
	switch {
	case n < p.minLength():
		return fmt.Errorf("%w: too short: the minimum is %d characters, it has %d", ErrPasswordRefused, p.minLength(), n)
	case n > MaxPasswordLength:
		return fmt.Errorf("%w: too long: the maximum is %d characters, it has %d", ErrPasswordRefused, MaxPasswordLength, n)
	case oneCharacter(nfc):
		return fmt.Errorf("%w: it is one character repeated", ErrPasswordRefused)
	case isBreached(strings.ToLower(nfc)):
		return fmt.Errorf("%w: it is in a list of common passwords found in breaches; choose another", ErrPasswordRefused)
	}
	return nil
}

// oneCharacter reports whether s is one code point repeated.
func oneCharacter(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return true
}

// isBreached reports whether the lowercase password is in the embedded
// list. A scan of the list takes well under a millisecond and allocates
// nothing; passwords are checked only when they are set.
func isBreached(lower string) bool {
	for line := range strings.Lines(breached) {
		if strings.TrimSuffix(line, "\n") == lower && !strings.HasPrefix(line, "#") {
			return true
		}
	}
	return false
}

// SetPassword checks password against policy, hashes it with params and
// random (nil means crypto/rand) and stores the hash as the password of the
// user with the ID. It returns the policy's error, wrapping
// [ErrPasswordRefused], without touching the store when the password is
// refused, and an error wrapping [keyward.ErrNotFound] when the user does not
// exist. It ends no session: the caller decides, as "keyward user passwd"
// does with [EndUserAccess].
func SetPassword(ctx context.Context, store keyward.UserStore, userID, password string, policy PasswordPolicy, params PasswordParams, random io.Reader) error {
	if err := policy.Check(password); err != nil {
		return err
	}
	hash, err := HashPassword(params, password, random)
	if err != nil {
		return err
	}
	if err := store.UpdateUser(ctx, userID, func(u *keyward.User) error { u.PasswordHash = hash; return nil }); err != nil {
		return fmt.Errorf("issuer: setting the password of user %s: %w", userID, err)
	}
	return nil
}
