package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/internal/pgtest"
)

func TestTxRetries(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Config{DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	errOther := errors.New("other")
	tests := []struct {
		name         string
		failures     int
		failWith     error
		wantAttempts int
		wantErr      error
	}{
		{name: "success", failures: 0, wantAttempts: 1},
		{name: "serialization failure then success", failures: 2, failWith: &pgconn.PgError{Code: "40001"}, wantAttempts: 3},
		{name: "deadlock then success", failures: 1, failWith: &pgconn.PgError{Code: "40P01"}, wantAttempts: 2},
		{name: "bounded", failures: 100, failWith: &pgconn.PgError{Code: "40001"}, wantAttempts: maxAttempts, wantErr: &pgconn.PgError{}},
		{name: "other errors are not retried", failures: 100, failWith: errOther, wantAttempts: 1, wantErr: errOther},
		{name: "unique violations are not retried", failures: 100, failWith: &pgconn.PgError{Code: "23505"}, wantAttempts: 1, wantErr: &pgconn.PgError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			attempts := 0
			err := s.tx(t.Context(), func(tx pgx.Tx) error {
				attempts++
				if _, err := tx.Exec(t.Context(), `SELECT 1`); err != nil {
					return err
				}
				if attempts <= tt.failures {
					return tt.failWith
				}
				return nil
			})
			if attempts != tt.wantAttempts {
				t.Errorf("fn ran %d times, want %d", attempts, tt.wantAttempts)
			}
			var pe *pgconn.PgError
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("tx() = %v", err)
			case errors.As(tt.wantErr, &pe) && !errors.As(err, &pe):
				t.Errorf("tx() = %v, want a *pgconn.PgError", err)
			case tt.wantErr == errOther && !errors.Is(err, errOther):
				t.Errorf("tx() = %v, want %v", err, errOther)
			}
		})
	}
}
