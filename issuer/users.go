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

// NewUser hashes password with params and stores a new user with a random ID.
// It returns an error wrapping [keyward.ErrConflict] when the username is
// taken.
func NewUser(ctx context.Context, store keyward.UserStore, username, password string, roles []string, attrs map[string]any, params PasswordParams, random io.Reader) (keyward.User, error) {
	if username == "" || password == "" {
		return keyward.User{}, errors.New("issuer: a user needs a username and a password")
	}
	hash, err := HashPassword(params, password, random)
	if err != nil {
		return keyward.User{}, err
	}
	id, err := NewID(random)
	if err != nil {
		return keyward.User{}, err
	}
	u := keyward.User{ID: id, Username: username, PasswordHash: hash, Roles: roles, Attributes: attrs}
	if err := store.CreateUser(ctx, u); err != nil {
		return keyward.User{}, fmt.Errorf("issuer: creating user %q: %w", username, err)
	}
	return u, nil
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
