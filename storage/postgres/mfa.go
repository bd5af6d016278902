package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// PutTOTP implements [keyward.MFAStore].
func (s *Store) PutTOTP(ctx context.Context, t keyward.TOTP) error {
	if t.UserID == "" || len(t.Secret) == 0 {
		return fmt.Errorf("put totp: %w", keyward.ErrInvalid)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.clock()
	}
	_, err := s.db.Exec(ctx, `INSERT INTO totp_credentials (user_id, secret, created_at, confirmed_at, last_step) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
		confirmed_at = excluded.confirmed_at, last_step = excluded.last_step`,
		t.UserID, t.Secret, keyward.StoredTime(t.CreatedAt), opt(t.ConfirmedAt), t.LastStep)
	if err != nil {
		return fmt.Errorf("put totp: %w", err)
	}
	return nil
}

// GetTOTP implements [keyward.MFAStore].
func (s *Store) GetTOTP(ctx context.Context, userID string) (keyward.TOTP, error) {
	t := keyward.TOTP{UserID: userID}
	err := s.db.QueryRow(ctx, `SELECT secret, created_at, confirmed_at, last_step FROM totp_credentials WHERE user_id = $1`, userID).
		Scan(bytea{&t.Secret}, tsz{&t.CreatedAt}, tsz{&t.ConfirmedAt}, &t.LastStep)
	if err != nil {
		return keyward.TOTP{}, fmt.Errorf("get totp: %w", notFound(err))
	}
	return t, nil
}

// UseTOTPStep implements [keyward.MFAStore]: one conditional update, so
// that of two replicas with the same step one changes the row.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	tag, err := s.db.Exec(ctx, `UPDATE totp_credentials SET last_step = $2, confirmed_at = coalesce(confirmed_at, $3)
		WHERE user_id = $1 AND last_step < $2`, userID, step, keyward.StoredTime(now))
	if err != nil {
		return fmt.Errorf("use totp step: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	if err := s.db.QueryRow(ctx, `SELECT 1 FROM totp_credentials WHERE user_id = $1`, userID).Scan(&one); err != nil {
		return fmt.Errorf("use totp step: %w", notFound(err))
	}
	return fmt.Errorf("use totp step: %w", keyward.ErrConflict)
}

// DeleteTOTP implements [keyward.MFAStore].
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM totp_credentials WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("delete totp: %w", err)
	}
	return nil
}

// SetRecoveryCodes implements [keyward.MFAStore].
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, codes []keyward.RecoveryCode) error {
	if userID == "" {
		return fmt.Errorf("set recovery codes: %w", keyward.ErrInvalid)
	}
	for _, c := range codes {
		if len(c.Hash) == 0 {
			return fmt.Errorf("set recovery codes: empty hash: %w", keyward.ErrInvalid)
		}
	}
	now := s.clock()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, c := range codes {
			if c.CreatedAt.IsZero() {
				c.CreatedAt = now
			}
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at, used_at) VALUES ($1, $2, $3, $4)`,
				userID, c.Hash, keyward.StoredTime(c.CreatedAt), opt(c.UsedAt)); err != nil {
				if isUnique(err) {
					return fmt.Errorf("duplicate hash: %w", keyward.ErrInvalid)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set recovery codes: %w", err)
	}
	return nil
}

// UseRecoveryCode implements [keyward.MFAStore].
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error {
	if len(hash) == 0 {
		return fmt.Errorf("use recovery code: %w", keyward.ErrNotFound)
	}
	tag, err := s.db.Exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND hash = $2 AND used_at IS NULL`,
		userID, hash, keyward.StoredTime(now))
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("use recovery code: %w", keyward.ErrNotFound)
	}
	return nil
}

// CountRecoveryCodes implements [keyward.MFAStore].
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// DeleteUserFactors implements [keyward.MFAStore].
func (s *Store) DeleteUserFactors(ctx context.Context, userID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM totp_credentials WHERE user_id = $1`,
			`DELETE FROM recovery_codes WHERE user_id = $1`,
			`DELETE FROM passkeys WHERE user_id = $1`,
			`DELETE FROM passkey_ceremonies WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete user factors: %w", err)
	}
	return nil
}
