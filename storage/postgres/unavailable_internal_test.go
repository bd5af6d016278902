package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

func TestUnavailableMapping(t *testing.T) {
	t.Parallel()
	// A real connect error: nothing listens on port 1 of the loopback.
	_, connectErr := pgconn.Connect(t.Context(), "postgres://keyward@127.0.0.1:1/keyward?sslmode=disable&connect_timeout=5")
	var ce *pgconn.ConnectError
	if !errors.As(connectErr, &ce) {
		t.Fatalf("pgconn.Connect() = %v, want a *pgconn.ConnectError", connectErr)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "connection refused", err: refused, want: true},
		{name: "connection reset", err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, want: true},
		{name: "connect error", err: connectErr, want: true},
		{name: "connection closed", err: fmt.Errorf("query: %w", pgconn.ErrConnClosed), want: true},
		{name: "cut short", err: io.ErrUnexpectedEOF, want: true},
		{name: "connection failure 08006", err: &pgconn.PgError{Code: "08006"}, want: true},
		{name: "cannot connect 08001", err: &pgconn.PgError{Code: "08001"}, want: true},
		{name: "admin shutdown 57P01", err: &pgconn.PgError{Code: "57P01"}, want: true},
		{name: "crash shutdown 57P02", err: &pgconn.PgError{Code: "57P02"}, want: true},
		{name: "cannot connect now 57P03", err: &pgconn.PgError{Code: "57P03"}, want: true},
		{name: "query canceled 57014", err: &pgconn.PgError{Code: "57014"}},
		{name: "unique violation", err: &pgconn.PgError{Code: "23505"}},
		{name: "serialization failure", err: &pgconn.PgError{Code: "40001"}},
		{name: "no rows", err: pgx.ErrNoRows},
		{name: "caller canceled", err: context.Canceled},
		{name: "caller deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded)},
		{name: "domain error", err: keyward.ErrNotFound},
		{name: "other", err: errors.New("boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := unavailable(tt.err)
			if is := errors.Is(got, keyward.ErrUnavailable); is != tt.want {
				t.Fatalf("unavailable(%v) = %v, wraps ErrUnavailable = %v, want %v", tt.err, got, is, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("unavailable(%v) = %v, lost the driver's error", tt.err, got)
			}
			if !tt.want && got != tt.err {
				t.Errorf("unavailable(%v) = %v, want it unchanged", tt.err, got)
			}
		})
	}
	if got := unavailable(nil); got != nil {
		t.Errorf("unavailable(nil) = %v", got)
	}
	once := unavailable(refused)
	if got := unavailable(once); got != once {
		t.Errorf("unavailable() wrapped twice: %v", got)
	}
}
