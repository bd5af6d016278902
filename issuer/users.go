package issuer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/keyward/keyward"
)

// AdminUsername is the account created on the first start of an empty store.
const AdminUsername = "admin"

// NewUser hashes password with params and stores a new user with a random ID
// under the normalised form of username ([NormalizeUsername]), which the
// returned user carries. It returns an error wrapping [ErrInvalidUsername]
// for a name that has no normalised form, and one wrapping
// [keyward.ErrConflict] when the name is taken: by a user stored under the
// same normalised form, or by a user stored before names were normalised
// whose name has that form. It applies no [PasswordPolicy]: a caller
// handing on a password a person chose checks it first.
func NewUser(ctx context.Context, store keyward.UserStore, username, password string, roles []string, attrs map[string]any, params PasswordParams, random io.Reader) (keyward.User, error) {
	if username == "" || password == "" {
		return keyward.User{}, errors.New("issuer: a user needs a username and a password")
	}
	name, err := NormalizeUsername(username)
	if err != nil {
		return keyward.User{}, err
	}
	if err := legacyNameTaken(ctx, store, name); err != nil {
		return keyward.User{}, err
	}
	hash, err := HashPassword(params, password, random)
	if err != nil {
		return keyward.User{}, err
	}
	id, err := NewID(random)
	if err != nil {
		return keyward.User{}, err
	}
	u := keyward.User{ID: id, Username: name, PasswordHash: hash, Roles: roles, Attributes: attrs}
	if err := store.CreateUser(ctx, u); err != nil {
		return keyward.User{}, fmt.Errorf("issuer: creating user %q: %w", name, err)
	}
	return u, nil
}

// legacyNameTaken returns an error wrapping [keyward.ErrConflict] when a user
// stored under a name that is not normalised ("Admin", from before names
// were normalised and not yet renamed by [NormalizeStoredUsernames]) has the
// normalised form name. The store's own uniqueness check covers the names
// already normalised.
func legacyNameTaken(ctx context.Context, store keyward.UserStore, name string) error {
	users, err := store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("issuer: listing users: %w", err)
	}
	for _, u := range users {
		if u.Username == name {
			continue // the store refuses it
		}
		if n, err := NormalizeUsername(u.Username); err == nil && n == name {
			return fmt.Errorf("issuer: creating user %q: user %s is stored as %q: %w", name, u.ID, u.Username, keyward.ErrConflict)
		}
	}
	return nil
}

// Bootstrap creates the [AdminUsername] account, with the role "admin" and a
// random password, when the store holds no user at all. It returns the
// password, which the caller shows once, and whether it created the account.
func Bootstrap(ctx context.Context, store keyward.UserStore, params PasswordParams, random io.Reader) (password string, created bool, err error) {
	users, err := store.ListUsers(ctx)
	if err != nil {
		return "", false, fmt.Errorf("issuer: listing users: %w", err)
	}
	if len(users) > 0 {
		return "", false, nil
	}
	password, err = NewPassword(random)
	if err != nil {
		return "", false, err
	}
	if _, err := NewUser(ctx, store, AdminUsername, password, []string{"admin"}, nil, params, random); err != nil {
		if errors.Is(err, keyward.ErrConflict) { // another process won the race
			return "", false, nil
		}
		return "", false, err
	}
	return password, true, nil
}
