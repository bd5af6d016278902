package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// scanPasskey reads a row of sqlstore.PasskeyColumns.
func scanPasskey(sc scanner) (keyward.Passkey, error) {
	var (
		p     keyward.Passkey
		count int64
	)
	err := sc.Scan(blob{&p.ID}, &p.UserID, &p.Name, blob{&p.PublicKey}, &p.AttestationFormat, blob{&p.AAGUID}, &count,
		sqlstore.JSON{Dst: &p.Transports}, &p.UserVerified, &p.BackupEligible, &p.BackupState, usec{&p.CreatedAt}, usec{&p.LastUsedAt})
	if err != nil {
		return keyward.Passkey{}, notFound(err)
	}
	p.SignCount = uint32(count) //nolint:gosec // written from a uint32
	return p, nil
}

// passkeyArgs returns the columns of sqlstore.PasskeyColumns for p.
func passkeyArgs(p keyward.Passkey) ([]any, error) {
	if p.Transports == nil {
		p.Transports = []string{}
	}
	transports, err := sqlstore.EncodeJSON(p.Transports)
	if err != nil {
		return nil, err
	}
	return []any{p.ID, p.UserID, p.Name, p.PublicKey, p.AttestationFormat, optBlob(p.AAGUID), int64(p.SignCount), transports,
		p.UserVerified, p.BackupEligible, p.BackupState, micros(keyward.StoredTime(p.CreatedAt)), optMicros(keyward.StoredTime(p.LastUsedAt))}, nil
}

// CreatePasskey implements [keyward.PasskeyStore].
func (s *Store) CreatePasskey(ctx context.Context, p keyward.Passkey) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.clock()
	}
	args, err := passkeyArgs(p)
	if err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, p.UserID).Scan(&one); err != nil {
			return fmt.Errorf("user %q: %w", p.UserID, notFound(err))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (`+sqlstore.PasskeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if isUnique(err) {
			return keyward.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	return nil
}

// GetPasskey implements [keyward.PasskeyStore].
func (s *Store) GetPasskey(ctx context.Context, id []byte) (keyward.Passkey, error) {
	p, err := scanPasskey(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.PasskeyColumns+` FROM passkeys WHERE id = ?`, id))
	if err != nil {
		return keyward.Passkey{}, fmt.Errorf("get passkey: %w", err)
	}
	return p, nil
}

// ListPasskeys implements [keyward.PasskeyStore].
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]keyward.Passkey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.PasskeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	out, err := collect(rows, scanPasskey)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return out, nil
}

// UpdatePasskey implements [keyward.PasskeyStore].
func (s *Store) UpdatePasskey(ctx context.Context, id []byte, fn func(*keyward.Passkey) error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanPasskey(tx.QueryRowContext(ctx, `SELECT `+sqlstore.PasskeyColumns+` FROM passkeys WHERE id = ?`, id))
		if err != nil {
			return err
		}
		p := old
		p.Transports = append([]string(nil), old.Transports...)
		if err := fn(&p); err != nil {
			return err
		}
		if err := keyward.CheckPasskeyUpdate(old, p); err != nil {
			return err
		}
		args, err := passkeyArgs(p)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE passkeys SET name = ?, attestation_format = ?, aaguid = ?, sign_count = ?, transports = ?,
			user_verified = ?, backup_state = ?, last_used_at = ? WHERE id = ?`,
			args[2], args[4], args[5], args[6], args[7], args[8], args[10], args[12], id)
		return err
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update passkey: %w", err)
	}
	return nil
}

// DeletePasskey implements [keyward.PasskeyStore].
func (s *Store) DeletePasskey(ctx context.Context, id []byte) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM passkeys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("delete passkey: %w", sqlstore.CmpErr(err, keyward.ErrNotFound))
	}
	return nil
}

// DeleteUserPasskeys implements [keyward.PasskeyStore].
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM passkeys WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM passkey_ceremonies WHERE user_id = ?`, userID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete user passkeys: %w", err)
	}
	return int(n), nil
}

// CreatePasskeyCeremony implements [keyward.PasskeyStore].
func (s *Store) CreatePasskeyCeremony(ctx context.Context, c keyward.PasskeyCeremony) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("create passkey ceremony: %w", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO passkey_ceremonies (`+sqlstore.CeremonyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Hash, string(c.Kind), c.UserID, c.SessionID, c.Data, micros(keyward.StoredTime(c.ExpiresAt)))
	if isUnique(err) {
		return fmt.Errorf("create passkey ceremony: %w", keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create passkey ceremony: %w", err)
	}
	return nil
}

// ConsumePasskeyCeremony implements [keyward.PasskeyStore]: one DELETE ...
// RETURNING, so that of two consumers one gets the row.
func (s *Store) ConsumePasskeyCeremony(ctx context.Context, hash []byte, now time.Time) (keyward.PasskeyCeremony, error) {
	var (
		c    keyward.PasskeyCeremony
		kind string
	)
	err := s.w.QueryRowContext(ctx, `DELETE FROM passkey_ceremonies WHERE hash = ? RETURNING `+sqlstore.CeremonyColumns, hash).
		Scan(blob{&c.Hash}, &kind, &c.UserID, &c.SessionID, blob{&c.Data}, usec{&c.ExpiresAt})
	if err != nil {
		return keyward.PasskeyCeremony{}, fmt.Errorf("consume passkey ceremony: %w", notFound(err))
	}
	c.Kind = keyward.PasskeyCeremonyKind(kind)
	if !keyward.StoredTime(now).Before(c.ExpiresAt) {
		return c, fmt.Errorf("consume passkey ceremony: %w", keyward.ErrExpired)
	}
	return c, nil
}

// DeleteExpiredPasskeyCeremonies implements [keyward.PasskeyStore].
func (s *Store) DeleteExpiredPasskeyCeremonies(ctx context.Context, now time.Time) (int, error) {
	return s.deleteExpired(ctx, s.w, "passkey_ceremonies", "expires_at", now)
}
