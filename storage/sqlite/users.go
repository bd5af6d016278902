package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanUser(sc scanner) (keyward.User, error) {
	var u keyward.User
	err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, sqlstore.JSON{Dst: &u.Roles}, sqlstore.JSON{Dst: &u.Attributes},
		&u.Disabled, usec{&u.CreatedAt}, usec{&u.UpdatedAt}, &u.RequireMFA)
	return u, notFound(err)
}

// userArgs returns the columns of sqlstore.UserColumns for u.
func userArgs(u keyward.User) ([]any, error) {
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
	return []any{u.ID, u.Username, u.PasswordHash, roles, attrs, u.Disabled, micros(u.CreatedAt), micros(u.UpdatedAt), u.RequireMFA}, nil
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
	_, err = s.w.ExecContext(ctx, `INSERT INTO users (`+sqlstore.UserColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
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
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return keyward.User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByName implements [keyward.UserStore].
func (s *Store) GetUserByName(ctx context.Context, username string) (keyward.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE username = ?`, username))
	if err != nil {
		return keyward.User{}, fmt.Errorf("get user %q: %w", username, err)
	}
	return u, nil
}

// ListUsers implements [keyward.UserStore].
func (s *Store) ListUsers(ctx context.Context) ([]keyward.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UpdateUser implements [keyward.UserStore].
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*keyward.User) error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE id = ?`, id))
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
		_, err = tx.ExecContext(ctx, `UPDATE users SET username = ?, password_hash = ?, roles = ?, attributes = ?,
			disabled = ?, created_at = ?, updated_at = ?, require_mfa = ? WHERE id = ?`, append(args[1:], id)...)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return sqlstore.CmpErr(err, keyward.ErrNotFound)
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE user_id = ?`,
			`DELETE FROM refresh_tokens WHERE user_id = ?`,
			`DELETE FROM auth_codes WHERE user_id = ?`,
			`DELETE FROM totp_credentials WHERE user_id = ?`,
			`DELETE FROM recovery_codes WHERE user_id = ?`,
			`DELETE FROM passkeys WHERE user_id = ?`,
			`DELETE FROM passkey_ceremonies WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
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
