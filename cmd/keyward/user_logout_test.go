package main

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestUserCommandsBackchannelLogout checks what the commands that end a
// user's sessions do when the back-channel logouts of the ended sessions
// cannot be queued (the outbox refuses the insert) or are dropped (the
// outbox is full): the sessions end all the same, the command exits 0 and
// says so on stderr as backchannel_logout_not_queued (with the error) or
// backchannel_logout_dropped (with the count). When the end of the
// sessions itself fails the command exits 1.
func TestUserCommandsBackchannelLogout(t *testing.T) {
	t.Parallel()
	commands := []struct {
		name    string
		args    []string
		stdin   string
		deleted bool
	}{
		{name: "disable", args: []string{"user", "disable", "erin"}},
		{name: "set --disable", args: []string{"user", "set", "erin", "--disable"}},
		{name: "passwd", args: []string{"user", "passwd", "erin", "--password-stdin"}, stdin: "a-new-password-for-erin\n"},
		{name: "delete", args: []string{"user", "delete", "erin"}, deleted: true},
		{name: "mfa reset", args: []string{"user", "mfa", "reset", "erin", "--reason", "ticket 1"}},
	}
	faults := []struct {
		name   string
		sql    string // run on the store before the command
		code   int
		stderr []string // substrings
	}{
		{name: "queued", code: 0},
		{name: "outbox refuses", code: 0,
			sql:    `CREATE TRIGGER outbox_broken BEFORE INSERT ON backchannel_logouts BEGIN SELECT RAISE(ABORT, 'outbox broken'); END`,
			stderr: []string{"level=ERROR", "msg=backchannel_logout_not_queued", "user_id=", "error=", "outbox broken"}},
		{name: "outbox full", code: 0,
			sql: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
				INSERT INTO backchannel_logouts (client_id, user_id, session_id, created_at, attempts, next_attempt_at)
				SELECT 'rp', 'someone', 'sess-' || i, 0, 0, 0 FROM n`,
			stderr: []string{"level=WARN", "msg=backchannel_logout_dropped", "user_id=", "dropped=1", "reason=queue_full"}},
		{name: "sessions not ended", code: 1,
			sql:    `CREATE TRIGGER sessions_broken BEFORE UPDATE ON sessions BEGIN SELECT RAISE(ABORT, 'sessions broken'); END`,
			stderr: []string{"sessions broken"}},
	}
	for _, c := range commands {
		for _, f := range faults {
			t.Run(c.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				data := storeArgs(t)
				mustRun(t, append([]string{"user", "add", "erin"}, data...)...)
				store := openStore(t, data[1])
				ctx := t.Context()
				u, err := store.GetUserByName(ctx, "erin")
				if err != nil {
					t.Fatal(err)
				}
				if err := store.CreateClient(ctx, keyward.Client{ID: "rp", Name: "rp", BackchannelLogoutURI: "https://rp.example/logout"}); err != nil {
					t.Fatal(err)
				}
				cookie := sha256.Sum256([]byte("cookie of erin"))
				if err := store.CreateSession(ctx, keyward.Session{ID: "sess-erin", CookieHash: cookie[:], UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				if err := store.AddSessionClient(ctx, "sess-erin", "rp"); err != nil {
					t.Fatal(err)
				}
				if f.sql != "" {
					db, err := sql.Open("sqlite", filepath.Join(data[1], "keyward.db"))
					if err != nil {
						t.Fatal(err)
					}
					_, err = db.ExecContext(ctx, f.sql)
					db.Close()
					if err != nil {
						t.Fatal(err)
					}
				}

				r := (invocation{stdin: c.stdin}).kw(t, append(c.args, data...)...)
				if r.code != f.code {
					t.Fatalf("exit %d, want %d; stderr: %s", r.code, f.code, r.stderr)
				}
				for _, want := range f.stderr {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
					}
				}
				if f.code != 0 {
					return
				}
				s, err := store.GetSession(ctx, "sess-erin")
				switch {
				case c.deleted:
					if _, uerr := store.GetUser(ctx, u.ID); !errors.Is(uerr, keyward.ErrNotFound) || !errors.Is(err, keyward.ErrNotFound) {
						t.Errorf("after delete: user %v, session %v; want both gone", uerr, err)
					}
				case err != nil || s.RevokedAt.IsZero():
					t.Errorf("session after %s: %+v, %v; want it ended", c.name, s, err)
				}
				if f.stderr == nil && strings.Contains(r.stderr, "backchannel_logout") {
					t.Errorf("stderr of a queued logout: %s", r.stderr)
				}
			})
		}
	}
}
