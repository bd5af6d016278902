// Package pgtest gives tests a fresh PostgreSQL database each.
//
// With KEYWARD_TEST_POSTGRES_DSN set, the databases are created on that
// server (its role needs CREATEDB). Otherwise, when initdb and pg_ctl are
// found (on PATH or under /usr/lib/postgresql/*/bin), one throwaway cluster is
// started for the whole test binary: in a temporary directory, listening on a
// free port of 127.0.0.1 only, with its unix socket inside that directory and
// fsync off. When the tests run as root, the cluster runs as the postgres
// user through runuser. [Main] stops and removes it once the tests are done,
// and a watchdog process does so if the test binary dies before:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// When neither a DSN nor the binaries are available, [DSN] skips the test,
// or fails it when KEYWARD_REQUIRE_POSTGRES=1, so that CI cannot pass without
// having run the PostgreSQL tests.
package pgtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by [DSN].
const (
	// EnvDSN names the variable holding the DSN of an existing server to use
	// instead of starting a cluster.
	EnvDSN = "KEYWARD_TEST_POSTGRES_DSN"
	// EnvRequire names the variable that, set to 1, turns a skip for lack of
	// PostgreSQL into a failure.
	EnvRequire = "KEYWARD_REQUIRE_POSTGRES"
)

// ErrUnavailable means that no PostgreSQL server can be started here.
var ErrUnavailable = errors.New("pgtest: PostgreSQL unavailable")

// Server is a PostgreSQL server on which tests create databases.
type Server struct {
	adminDSN string
	dbPrefix string
	seq      atomic.Int64

	// Set for a cluster started by Start.
	dir   string
	data  string
	pgctl string
	port  int
	runAs []string // command prefix running as the postgres user, if needed
}

// Connect returns a Server for the existing server at dsn, whose role must be
// allowed to create databases.
func Connect(dsn string) *Server {
	return &Server{adminDSN: dsn, dbPrefix: newPrefix()}
}

// newPrefix returns a database name prefix unique to this process.
func newPrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "keyward_test_" + hex.EncodeToString(b)
}

// Start initialises and starts a throwaway cluster. It returns an error
// wrapping ErrUnavailable when the PostgreSQL binaries (or, as root, the
// postgres user and runuser) are missing.
func Start(ctx context.Context) (*Server, error) {
	initdb, pgctl, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{pgctl: pgctl, dbPrefix: newPrefix()}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and there is no postgres user to run the server as", ErrUnavailable)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and runuser is not on PATH", ErrUnavailable)
		}
		s.runAs = []string{runuser, "-u", "postgres", "--"}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	s.dir, err = os.MkdirTemp("", "keyward-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if uid >= 0 {
		if err := os.Chown(s.dir, uid, gid); err != nil {
			_ = os.RemoveAll(s.dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	s.data = filepath.Join(s.dir, "data")
	if err := s.initCluster(ctx, initdb); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	var errs []error
	for range 3 { // another process may take the free port before the server binds it
		port, err := freePort()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out, err := s.run(ctx, pgctl, "-D", s.data, "-l", filepath.Join(s.dir, "postgres.log"),
			"-w", "-t", "60", "-o", "-p "+strconv.Itoa(port), "start")
		if err == nil {
			s.port = port
			s.adminDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			if err := s.startWatchdog(); err != nil {
				return nil, errors.Join(fmt.Errorf("pgtest: watchdog: %w", err), s.Stop())
			}
			return s, nil
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
		errs = append(errs, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log))
		_, _ = s.run(context.Background(), pgctl, "-D", s.data, "-m", "immediate", "stop")
	}
	_ = os.RemoveAll(s.dir)
	return nil, fmt.Errorf("pgtest: %w", errors.Join(errs...))
}

// initCluster runs initdb and writes the test settings.
func (s *Server) initCluster(ctx context.Context, initdb string) error {
	out, err := s.run(ctx, initdb, "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
# Throwaway test cluster: reachable from this machine only, durability off.
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 32MB
log_min_messages = warning
`, s.dir)
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, err = f.WriteString(conf)
	return errors.Join(err, f.Close())
}

// run runs a PostgreSQL program, as the postgres user when needed.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(s.runAs), name)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// findBinaries returns the paths of initdb and pg_ctl.
func findBinaries() (initdb, pgctl string, err error) {
	initdb, err1 := exec.LookPath("initdb")
	pgctl, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return initdb, pgctl, nil
	}
	// Debian and Ubuntu keep them off PATH.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	for _, dir := range dirs {
		initdb, pgctl = filepath.Join(dir, "initdb"), filepath.Join(dir, "pg_ctl")
		if isExecutable(initdb) && isExecutable(pgctl) {
			return initdb, pgctl, nil
		}
	}
	return "", "", fmt.Errorf("%w: initdb and pg_ctl are neither on PATH nor under /usr/lib/postgresql", ErrUnavailable)
}

// version returns the major version of /usr/lib/postgresql/N/bin.
func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops a cluster started by [Start] and removes its directory. It does
// nothing for a server given to [Connect].
func (s *Server) Stop() error {
	if s.dir == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.run(ctx, s.pgctl, "-D", s.data, "-m", "immediate", "-w", "stop")
	if err != nil {
		err = fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Halt stops a cluster started by [Start] the way an operator stops it (a
// fast shutdown: open sessions are ended with SQLSTATE 57P01) and keeps its
// data, so that [Server.Resume] starts it again. Tests use it to check how a
// store behaves while its database is unreachable.
func (s *Server) Halt(ctx context.Context) error {
	if s.dir == "" {
		return errors.New("pgtest: Halt needs a cluster started by Start")
	}
	if out, err := s.run(ctx, s.pgctl, "-D", s.data, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Resume starts a cluster stopped by [Server.Halt] again, on the same port,
// and returns once it accepts connections.
func (s *Server) Resume(ctx context.Context) error {
	if s.dir == "" {
		return errors.New("pgtest: Resume needs a cluster started by Start")
	}
	out, err := s.run(ctx, s.pgctl, "-D", s.data, "-l", filepath.Join(s.dir, "postgres.log"),
		"-w", "-t", "60", "-o", "-p "+strconv.Itoa(s.port), "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

// NewDatabase creates an empty database, drops it when the test ends, and
// returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("%s_%d", s.dbPrefix, s.seq.Add(1))
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	dsn, err := withDatabase(s.adminDSN, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// exec runs one statement on the server's administrative connection.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn (URL or keyword/value form) naming database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}

// shared is the server of the test binary, started on first use by [DSN] and
// stopped by [Main]. It is the one piece of package state, and lives only in
// test binaries.
var shared sharedServer

type sharedServer struct {
	mu      sync.Mutex
	started bool
	srv     *Server
	err     error
}

func (sh *sharedServer) get() (*Server, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.started {
		sh.started = true
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			sh.srv = Connect(dsn)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			sh.srv, sh.err = Start(ctx)
		}
	}
	return sh.srv, sh.err
}

func (sh *sharedServer) stop() error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv == nil {
		return nil
	}
	err := sh.srv.Stop()
	sh.srv = nil
	return err
}

// skipUnavailable skips the test when err says PostgreSQL cannot be started
// here, or fails it when KEYWARD_REQUIRE_POSTGRES=1; any other error fails
// it.
func skipUnavailable(t testing.TB, err error) {
	t.Helper()
	switch {
	case errors.Is(err, ErrUnavailable) && os.Getenv(EnvRequire) != "1":
		t.Skipf("%v; set %s to a PostgreSQL DSN or install PostgreSQL (initdb, pg_ctl) to run this test", err, EnvDSN)
	case errors.Is(err, ErrUnavailable):
		t.Fatalf("%v, and %s=1 requires the PostgreSQL tests: set %s or install PostgreSQL (initdb, pg_ctl)", err, EnvRequire, EnvDSN)
	case err != nil:
		t.Fatalf("%v", err)
	}
}

// NewServer starts a cluster of the calling test's own, whatever
// KEYWARD_TEST_POSTGRES_DSN says, and stops it when the test ends: for the
// tests that stop and start the server under a store ([Server.Halt],
// [Server.Resume]), which must not disturb the databases of other tests.
// Without the PostgreSQL binaries it skips the test, or fails it when
// KEYWARD_REQUIRE_POSTGRES=1.
func NewServer(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx)
	skipUnavailable(t, err)
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return srv
}

// DSN returns the DSN of a fresh database on the test binary's server, which
// it starts on first use, and drops the database when the test ends. Without
// a server it skips the test, or fails it when KEYWARD_REQUIRE_POSTGRES=1;
// a server that fails to start fails the test. Test binaries calling DSN must
// stop the server with [Main].
func DSN(t testing.TB) string {
	t.Helper()
	srv, err := shared.get()
	skipUnavailable(t, err)
	return srv.NewDatabase(t)
}

// Main runs the tests, stops the server [DSN] started, if any, and exits.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := shared.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
