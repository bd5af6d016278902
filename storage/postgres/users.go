package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanUser(row pgx.Row) (keyward.User, error) {
	var u keyward.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, sqlstore.JSON{Dst: &u.Roles}, sqlstore.JSON{Dst: &u.Attributes},
		&u.Disabled, tsz{&u.CreatedAt}, tsz{&u.UpdatedAt}, &u.RequireMFA)
	return u, notFound(err)
}

// userArgs returns the columns of sqlstore.UserColumns for u.
func userArgs(u keyward.User) ([]any, error) {
	if u.Roles == nil {
		u.Roles = []string{}
	}
	roles, err := sqlstore.EncodeJSON(u.Roles)
	if err != nil {
		return nil, err
	}
	if u.Attributes == nil {
		u.Attributes = map[string]any{}
	}
	attrs, err := sqlstore.EncodeJSON(u.Attributes)
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.Username, u.PasswordHash, roles, attrs, u.Disabled, keyward.StoredTime(u.CreatedAt), keyward.StoredTime(u.UpdatedAt), u.RequireMFA}, nil
}

// CreateUser implements [keyward.UserStore].
func (s *Store) CreateUser(ctx context.Context, u keyward.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.clock()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	args, err := userArgs(u)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO users (`+sqlstore.UserColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, args...)
	if isUnique(err) {
		return fmt.Errorf("create user %q: %w", u.Username, keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// GetUser implements [keyward.UserStore].
func (s *Store) GetUser(ctx context.Context, id string) (keyward.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return keyward.User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByName implements [keyward.UserStore].
func (s *Store) GetUserByName(ctx context.Context, username string) (keyward.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE username = $1`, username))
	if err != nil {
		return keyward.User{}, fmt.Errorf("get user %q: %w", username, err)
	}
	return u, nil
}

// ListUsers implements [keyward.UserStore].
func (s *Store) ListUsers(ctx context.Context) ([]keyward.User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sqlstore.UserColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UpdateUser implements [keyward.UserStore]. The row is locked (SELECT ...
// FOR UPDATE) while fn runs, so concurrent updates do not lose one another.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*keyward.User) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanUser(tx.QueryRow(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		u := old
		if err := fn(&u); err != nil {
			return err
		}
		if err := keyward.CheckUserUpdate(old, u); err != nil {
			return err
		}
		if u.UpdatedAt.Equal(old.UpdatedAt) {
			u.UpdatedAt = s.clock()
		}
		args, err := userArgs(u)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE users SET username = $2, password_hash = $3, roles = $4, attributes = $5,
			disabled = $6, created_at = $7, updated_at = $8, require_mfa = $9 WHERE id = $1`, args...)
		if isUnique(err) {
			return fmt.Errorf("username %q: %w", u.Username, keyward.ErrConflict)
		}
		return err
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update user %q: %w", id, err)
	}
	return nil
}

// DeleteUser implements [keyward.UserStore].
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return sqlstore.CmpErr(err, keyward.ErrNotFound)
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE user_id = $1`,
			`DELETE FROM refresh_tokens WHERE user_id = $1`,
			`DELETE FROM auth_codes WHERE user_id = $1`,
			`DELETE FROM totp_credentials WHERE user_id = $1`,
			`DELETE FROM recovery_codes WHERE user_id = $1`,
			`DELETE FROM passkeys WHERE user_id = $1`,
			`DELETE FROM passkey_ceremonies WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}
