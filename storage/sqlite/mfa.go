package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
	_, err := s.w.ExecContext(ctx, `INSERT INTO totp_credentials (user_id, secret, created_at, confirmed_at, last_step) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
		confirmed_at = excluded.confirmed_at, last_step = excluded.last_step`,
		t.UserID, t.Secret, micros(keyward.StoredTime(t.CreatedAt)), optMicros(keyward.StoredTime(t.ConfirmedAt)), t.LastStep)
	if err != nil {
		return fmt.Errorf("put totp: %w", err)
	}
	return nil
}

// GetTOTP implements [keyward.MFAStore].
func (s *Store) GetTOTP(ctx context.Context, userID string) (keyward.TOTP, error) {
	t := keyward.TOTP{UserID: userID}
	err := s.r.QueryRowContext(ctx, `SELECT secret, created_at, confirmed_at, last_step FROM totp_credentials WHERE user_id = ?`, userID).
		Scan(&t.Secret, usec{&t.CreatedAt}, usec{&t.ConfirmedAt}, &t.LastStep)
	if err != nil {
		return keyward.TOTP{}, fmt.Errorf("get totp: %w", notFound(err))
	}
	return t, nil
}

// UseTOTPStep implements [keyward.MFAStore]: one conditional update, so
// that of two writers with the same step one changes the row.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp_credentials SET last_step = ?, confirmed_at = coalesce(confirmed_at, ?)
			WHERE user_id = ? AND last_step < ?`, step, micros(keyward.StoredTime(now)), userID, step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM totp_credentials WHERE user_id = ?`, userID).Scan(&one); err != nil {
			return notFound(err)
		}
		return keyward.ErrConflict
	})
	if err != nil {
		return fmt.Errorf("use totp step: %w", err)
	}
	return nil
}

// DeleteTOTP implements [keyward.MFAStore].
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM totp_credentials WHERE user_id = ?`, userID); err != nil {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, c := range codes {
			if c.CreatedAt.IsZero() {
				c.CreatedAt = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at, used_at) VALUES (?, ?, ?, ?)`,
				userID, c.Hash, micros(keyward.StoredTime(c.CreatedAt)), optMicros(keyward.StoredTime(c.UsedAt))); err != nil {
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
	res, err := s.w.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`,
		micros(keyward.StoredTime(now)), userID, hash)
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("use recovery code: %w", keyward.ErrNotFound)
	}
	return nil
}

// CountRecoveryCodes implements [keyward.MFAStore].
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// DeleteUserFactors implements [keyward.MFAStore].
func (s *Store) DeleteUserFactors(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM totp_credentials WHERE user_id = ?`,
			`DELETE FROM recovery_codes WHERE user_id = ?`,
			`DELETE FROM passkeys WHERE user_id = ?`,
			`DELETE FROM passkey_ceremonies WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
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
