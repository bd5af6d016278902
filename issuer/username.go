package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/keyward/keyward"
)

// MaxUsernameLen bounds the length of a normalised username, in bytes.
const MaxUsernameLen = 256

// ErrInvalidUsername is wrapped by the errors of [NormalizeUsername] for a
// name that cannot be an account's.
var ErrInvalidUsername = errors.New("issuer: invalid username")

// NormalizeUsername returns the one form under which a username is stored
// and looked up: surrounding white space removed, then the PRECIS
// UsernameCaseMapped profile of RFC 8265 §3.3 (full-width characters mapped
// to their usual width, upper case to lower case, Unicode NFC). Names that
// read alike — "Admin", " admin", "ａｄｍｉｎ" and "admin" — so have one form
// and can only be one account, which stops one user from passing for
// another in a list of accounts or a preferred_username claim.
//
// It returns an error wrapping [ErrInvalidUsername] for a name that is not
// UTF-8, holds a control character anywhere (a newline included), is empty
// once normalised or longer than [MaxUsernameLen] bytes, or holds what the
// profile refuses: spaces inside the name, and symbols and punctuation other
// than ASCII's.
//
// This function is the one home of the rule: every path that creates a
// user or finds one by a typed name goes through it ([NewUser],
// [LookupUser], the login, [NormalizeStoredUsernames]).
func NormalizeUsername(name string) (string, error) {
	if len(name) > 4*MaxUsernameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidUsername, MaxUsernameLen)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidUsername)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Errorf("%w: it holds a control character such as a newline or a tab", ErrInvalidUsername)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidUsername)
	}
	out, err := precis.UsernameCaseMapped.String(name)
	if err != nil {
		return "", fmt.Errorf("%w: a username holds letters, digits and ASCII punctuation, without spaces or other symbols (RFC 8265)", ErrInvalidUsername)
	}
	if out == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidUsername)
	}
	if len(out) > MaxUsernameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidUsername, MaxUsernameLen)
	}
	return out, nil
}

// LookupUser returns the user a typed name designates: the user stored
// under the name's normalised form ([NormalizeUsername]). A user stored
// before usernames were normalised, and not renamed since by
// [NormalizeStoredUsernames] (because its name has no normalised form or
// clashes with another user's), is found by its name exactly as stored, so
// that existing accounts keep working. It returns an error wrapping
// [keyward.ErrNotFound] when no user matches.
func LookupUser(ctx context.Context, store keyward.UserStore, name string) (keyward.User, error) {
	n, err := NormalizeUsername(name)
	if err == nil && n == name {
		return store.GetUserByName(ctx, n)
	}
	if len(name) > 4*MaxUsernameLen {
		return keyward.User{}, fmt.Errorf("issuer: user: %w", keyward.ErrNotFound)
	}
	// Both lookups run whichever finds the user, so that the time taken
	// depends on the name typed and not on which accounts exist.
	u, uerr := keyward.User{}, fmt.Errorf("issuer: user: %w", keyward.ErrNotFound)
	if err == nil {
		u, uerr = store.GetUserByName(ctx, n)
	}
	exact, exactErr := store.GetUserByName(ctx, name)
	if uerr == nil || !errors.Is(uerr, keyward.ErrNotFound) {
		return u, uerr
	}
	return exact, exactErr
}

// UsernameRename is a stored username replaced by its normalised form.
type UsernameRename struct {
	UserID string
	From   string
	To     string
}

// UsernameProblem is a stored username left as it is.
type UsernameProblem struct {
	UserID string
	// Username is the name as stored.
	Username string
	// Normalized is the name's normalised form, "" when it has none.
	Normalized string
	// Err says why the name was left: it wraps [ErrInvalidUsername] when
	// the name has no normalised form, and [keyward.ErrConflict] when
	// another user's name has the same normalised form.
	Err error
}

// UsernameMigration is the outcome of [NormalizeStoredUsernames].
type UsernameMigration struct {
	// Renamed lists the users whose name was replaced by its normalised
	// form, in the order of the normalised names.
	Renamed []UsernameRename
	// Problems lists the users whose name was left as stored. Such a user
	// is still found by its exact name ([LookupUser]); an operator resolves
	// the problem by renaming or deleting accounts.
	Problems []UsernameProblem
}

// NormalizeStoredUsernames brings the usernames of a store created before
// usernames were normalised to their normalised form ([NormalizeUsername]).
// A user is renamed only when no other user's name has the same normalised
// form; users whose names clash are never merged nor renamed, and are
// reported in [UsernameMigration.Problems] together with the names that
// have no normalised form. It is idempotent and safe to run at every start
// of the issuer, also with several replicas at once: a rename is one
// [keyward.UserStore.UpdateUser] that changes nothing when the name changed
// meanwhile, and the store refuses a name another user took meanwhile
// (reported as a clash). It reads every user, so it costs one pass over the
// users table.
func NormalizeStoredUsernames(ctx context.Context, store keyward.UserStore) (UsernameMigration, error) {
	var m UsernameMigration
	users, err := store.ListUsers(ctx)
	if err != nil {
		return m, fmt.Errorf("issuer: listing users: %w", err)
	}
	byForm := make(map[string][]keyward.User)
	for _, u := range users {
		n, err := NormalizeUsername(u.Username)
		if err != nil {
			m.Problems = append(m.Problems, UsernameProblem{UserID: u.ID, Username: u.Username, Err: err})
			continue
		}
		byForm[n] = append(byForm[n], u)
	}
	forms := make([]string, 0, len(byForm))
	for n := range byForm {
		forms = append(forms, n)
	}
	slices.Sort(forms)
	for _, n := range forms {
		group := byForm[n]
		if len(group) > 1 {
			ids := make([]string, len(group))
			for k, u := range group {
				ids[k] = u.ID
			}
			for _, u := range group {
				if u.Username != n {
					m.Problems = append(m.Problems, UsernameProblem{UserID: u.ID, Username: u.Username, Normalized: n,
						Err: fmt.Errorf("issuer: the users %s have names of one normalised form: %w", strings.Join(ids, ", "), keyward.ErrConflict)})
				}
			}
			continue
		}
		u := group[0]
		if u.Username == n {
			continue
		}
		renamed := false
		err := store.UpdateUser(ctx, u.ID, func(s *keyward.User) error {
			renamed = false
			if s.Username != u.Username {
				return keyward.ErrNoChange
			}
			s.Username, renamed = n, true
			return nil
		})
		switch {
		case errors.Is(err, keyward.ErrConflict):
			m.Problems = append(m.Problems, UsernameProblem{UserID: u.ID, Username: u.Username, Normalized: n,
				Err: fmt.Errorf("issuer: another user holds the name %q: %w", n, keyward.ErrConflict)})
		case errors.Is(err, keyward.ErrNotFound): // deleted meanwhile
		case err != nil:
			return m, fmt.Errorf("issuer: renaming user %s: %w", u.ID, err)
		case renamed:
			m.Renamed = append(m.Renamed, UsernameRename{UserID: u.ID, From: u.Username, To: n})
		}
	}
	return m, nil
}

// usernameHash returns a keyed hash of a typed username for the audit log:
// the first 8 bytes of HMAC-SHA-256, in hex. It lets one correlate the
// attempts at one name within a process's log without writing the name,
// which may be a password typed into the wrong field. The key is the
// issuer's dummy password hash, which holds 128 random bits (its salt)
// drawn at start-up and never leaves the process, so the hash of a name
// differs between processes and cannot be reversed by trying names.
func (i *Issuer) usernameHash(name string) string {
	mac := hmac.New(sha256.New, []byte(i.dummyHash))
	mac.Write([]byte("keyward login username\x00"))
	mac.Write([]byte(name))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// loginFailedWho returns the attributes that name the account of a failed
// login: for a known user its ID and stored name, for an unknown one only
// [Issuer.usernameHash] of the name typed.
func (i *Issuer) loginFailedWho(u keyward.User, known bool, typed string) []slog.Attr {
	if known {
		return []slog.Attr{slog.String("user_id", u.ID), slog.String("username", u.Username)}
	}
	return []slog.Attr{slog.String("username_hash", i.usernameHash(typed))}
}
