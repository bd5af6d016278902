package issuer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/storage/sqlite"
)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testMasterKey is a fixed master key for tests.
var testMasterKey = bytes.Repeat([]byte{0x42}, MasterKeySize)

func testSealer(tb testing.TB) *Sealer {
	tb.Helper()
	s, err := NewSealer(testMasterKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// testKey reads a pre-generated private key from the jose test data, so no
// test waits on RSA key generation.
func testKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "jose", "testdata", "keys", name))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k.(crypto.Signer)
}

// testPassword are cheap argon2id parameters so that tests run fast; the
// timing test uses the defaults.
var testPassword = PasswordParams{Memory: 64, Time: 1, Threads: 1}

// backends lists the stores the issuer is tested on. open returns a store
// on the same data every time it is called within one test, so a test can
// "restart" by opening it again.
type backend struct {
	name string
	open func(tb testing.TB, now func() time.Time) keyward.Store
}

func backends(tb testing.TB) []backend {
	tb.Helper()
	return []backend{
		{"memory", func() func(testing.TB, func() time.Time) keyward.Store {
			var s *memory.Store
			return func(_ testing.TB, now func() time.Time) keyward.Store {
				if s == nil {
					s = memory.New(memory.Config{Now: now})
				}
				return s
			}
		}()},
		{"sqlite", func() func(testing.TB, func() time.Time) keyward.Store {
			var path string
			return func(tb testing.TB, now func() time.Time) keyward.Store {
				tb.Helper()
				if path == "" {
					path = filepath.Join(tb.TempDir(), "keyward.db")
				}
				s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Now: now})
				if err != nil {
					tb.Fatal(err)
				}
				tb.Cleanup(func() { s.Close() })
				return s
			}
		}()},
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture is an issuer on a store with a fake clock.
type fixture struct {
	clock  *clock
	store  keyward.Store
	keys   *KeyManager
	issuer *Issuer
	log    *syncBuffer
}

func newFixture(tb testing.TB, store keyward.Store, clk *clock, mutate func(*Config)) *fixture {
	tb.Helper()
	logs := new(syncBuffer)
	km, err := NewKeyManager(KeyManagerConfig{
		Store: store, Sealer: testSealer(tb), Alg: "ES256",
		RotateEvery: time.Hour, AccessTTL: 15 * time.Minute, JWKSMaxAge: time.Minute,
		Now: clk.Now, Logger: jsonLogger(logs),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := km.Step(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	cfg := Config{
		Store: store, Keys: km, Issuer: "https://issuer.test",
		Password: testPassword, Now: clk.Now, Logger: jsonLogger(logs),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	iss, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{clock: clk, store: store, keys: km, issuer: iss, log: logs}
}
