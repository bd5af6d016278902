package pgtest

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestDSN(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 2 {
		dsn := DSN(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatalf("connect to %s: %v", dsn, err)
		}
		var db, listen string
		if err := conn.QueryRow(t.Context(), `SELECT current_database(), current_setting('listen_addresses')`).Scan(&db, &listen); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(t.Context())
		if seen[db] {
			t.Errorf("DSN returned database %s twice", db)
		}
		seen[db] = true
		if os.Getenv(EnvDSN) == "" && listen != "127.0.0.1" {
			t.Errorf("listen_addresses = %q, want 127.0.0.1 only", listen)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn, want string
	}{
		{dsn: "postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", want: "postgres://u:p@127.0.0.1:5432/db1?sslmode=disable"},
		{dsn: "postgresql://u@host/", want: "postgresql://u@host/db1"},
		{dsn: "host=/tmp port=5432 user=u dbname=postgres ", want: "host=/tmp port=5432 user=u dbname=postgres dbname=db1"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.dsn, "db1")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v, want %q", tt.dsn, got, err, tt.want)
		}
	}
}
