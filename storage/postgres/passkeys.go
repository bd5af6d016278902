package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// scanPasskey reads a row of sqlstore.PasskeyColumns.
func scanPasskey(row pgx.Row) (keyward.Passkey, error) {
	var (
		p     keyward.Passkey
		count int64
	)
	err := row.Scan(bytea{&p.ID}, &p.UserID, &p.Name, bytea{&p.PublicKey}, &p.AttestationFormat, bytea{&p.AAGUID}, &count,
		sqlstore.JSON{Dst: &p.Transports}, &p.UserVerified, &p.BackupEligible, &p.BackupState, tsz{&p.CreatedAt}, tsz{&p.LastUsedAt})
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
	return []any{p.ID, p.UserID, p.Name, p.PublicKey, p.AttestationFormat, optBytes(p.AAGUID), int64(p.SignCount), transports,
		p.UserVerified, p.BackupEligible, p.BackupState, keyward.StoredTime(p.CreatedAt), opt(p.LastUsedAt)}, nil
}

// CreatePasskey implements [keyward.PasskeyStore]. The user's row is
// locked (FOR SHARE) while the passkey is inserted, so that a concurrent
// DeleteUser either runs before, and the passkey is refused, or after, and
// deletes it.
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
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR SHARE`, p.UserID).Scan(&one); err != nil {
			return fmt.Errorf("user %q: %w", p.UserID, notFound(err))
		}
		_, err := tx.Exec(ctx, `INSERT INTO passkeys (`+sqlstore.PasskeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, args...)
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
	p, err := scanPasskey(s.db.QueryRow(ctx, `SELECT `+sqlstore.PasskeyColumns+` FROM passkeys WHERE id = $1`, id))
	if err != nil {
		return keyward.Passkey{}, fmt.Errorf("get passkey: %w", err)
	}
	return p, nil
}

// ListPasskeys implements [keyward.PasskeyStore].
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]keyward.Passkey, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sqlstore.PasskeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyward.Passkey, error) { return scanPasskey(r) })
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return out, nil
}

// UpdatePasskey implements [keyward.PasskeyStore]. The row is locked
// (SELECT ... FOR UPDATE) while fn runs, so that of two replicas checking
// assertions of one credential, the second sees the first one's sign
// count.
func (s *Store) UpdatePasskey(ctx context.Context, id []byte, fn func(*keyward.Passkey) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanPasskey(tx.QueryRow(ctx, `SELECT `+sqlstore.PasskeyColumns+` FROM passkeys WHERE id = $1 FOR UPDATE`, id))
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
		_, err = tx.Exec(ctx, `UPDATE passkeys SET name = $2, attestation_format = $3, aaguid = $4, sign_count = $5, transports = $6,
			user_verified = $7, backup_state = $8, last_used_at = $9 WHERE id = $1`,
			id, args[2], args[4], args[5], args[6], args[7], args[8], args[10], args[12])
		return err
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update passkey: %w", err)
	}
	return nil
}

// DeletePasskey implements [keyward.PasskeyStore].
func (s *Store) DeletePasskey(ctx context.Context, id []byte) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM passkeys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete passkey: %w", keyward.ErrNotFound)
	}
	return nil
}

// DeleteUserPasskeys implements [keyward.PasskeyStore].
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM passkey_ceremonies WHERE user_id = $1`, userID)
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
	_, err := s.db.Exec(ctx, `INSERT INTO passkey_ceremonies (`+sqlstore.CeremonyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Hash, string(c.Kind), c.UserID, c.SessionID, c.Data, keyward.StoredTime(c.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("create passkey ceremony: %w", keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create passkey ceremony: %w", err)
	}
	return nil
}

// ConsumePasskeyCeremony implements [keyward.PasskeyStore]: one DELETE ...
// RETURNING, so that of two consumers, on any replicas, one gets the row.
func (s *Store) ConsumePasskeyCeremony(ctx context.Context, hash []byte, now time.Time) (keyward.PasskeyCeremony, error) {
	var (
		c    keyward.PasskeyCeremony
		kind string
	)
	err := s.db.QueryRow(ctx, `DELETE FROM passkey_ceremonies WHERE hash = $1 RETURNING `+sqlstore.CeremonyColumns, hash).
		Scan(bytea{&c.Hash}, &kind, &c.UserID, &c.SessionID, bytea{&c.Data}, tsz{&c.ExpiresAt})
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
	return deleteExpired(ctx, s.db, "passkey_ceremonies", now)
}
