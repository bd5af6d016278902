// Command issue-tokens shows how to issue access tokens from your own Go
// code with keyward's jose package: a small key ring of signers, a JWKS
// endpoint that publishes every key that may still verify a token, and key
// rotation that keeps the previous key published until its tokens expire.
//
// It issues tokens to one client that authenticates with HTTP Basic
// (RFC 6749 §2.3.1), as a machine-to-machine issuer would:
//
//	cd examples && go install ./issue-tokens    # examples/ is a module of its own
//	CLIENT_SECRET=s3cret issue-tokens &         # from $(go env GOPATH)/bin
//	curl -s --retry 10 --retry-connrefused -u demo:s3cret -X POST http://127.0.0.1:4001/token
//	curl -s http://127.0.0.1:4001/jwks.json
//	kill -HUP $!    # rotate the signing key
//	kill $!         # stop it
//
// Environment: LISTEN (default 127.0.0.1:4001), ISSUER (default
// http://127.0.0.1:4001), AUDIENCE (default api://demo), CLIENT_ID (default
// demo), CLIENT_SECRET (required), KEY_FILE (a PEM private key; default: a
// new ES256 key in memory). Send SIGHUP to the program to rotate the signing
// key. Install or build it first, as above: under `go run ./issue-tokens`,
// $! is `go run`, which SIGHUP kills, leaving the program running on its
// own; there, signal the program itself (pkill -HUP -x issue-tokens).
//
// For a complete issuer — users, refresh tokens, revocation, scheduled
// rotation, several replicas — run `keyward serve` instead.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/keyward/keyward/jose"
)

// Config is what the example issuer needs.
type Config struct {
	Issuer       string
	Audience     string
	ClientID     string
	ClientSecret string
	// TTL is the access-token lifetime.
	TTL time.Duration
	// Alg is the algorithm of keys the ring generates.
	Alg jose.Algorithm
	// Now is the clock.
	Now func() time.Time
}

// KeyRing holds the active signer and the public keys still published: the
// active one and those retired less than a token lifetime ago.
type KeyRing struct {
	mu      sync.RWMutex
	alg     jose.Algorithm
	ttl     time.Duration
	now     func() time.Time
	active  *jose.Signer
	retired []retiredKey
}

type retiredKey struct {
	jwk      *jose.JWK
	removeAt time.Time
}

// NewKeyRing returns a ring whose first key is key, or a new key of alg
// when key is nil.
func NewKeyRing(key any, alg jose.Algorithm, ttl time.Duration, now func() time.Time) (*KeyRing, error) {
	r := &KeyRing{alg: alg, ttl: ttl, now: now}
	if key == nil {
		var err error
		if key, err = jose.GenerateKey(alg, 0, rand.Reader); err != nil {
			return nil, err
		}
	}
	s, err := newSigner(key, alg)
	if err != nil {
		return nil, err
	}
	r.active = s
	return r, nil
}

// newSigner makes a signer whose key ID is the key's RFC 7638 thumbprint.
func newSigner(key any, alg jose.Algorithm) (*jose.Signer, error) {
	kid, err := jose.Thumbprint(key)
	if err != nil {
		return nil, err
	}
	return jose.NewSigner(key, alg, kid)
}

// Signer returns the active signer.
func (r *KeyRing) Signer() *jose.Signer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active
}

// Rotate makes a new active key. The previous one stays published for one
// token lifetime plus a minute, so that the tokens it signed keep verifying.
//
// A production issuer also publishes the new key before it signs, at least
// one JWKS max-age ahead; `keyward serve` does.
func (r *KeyRing) Rotate() error {
	key, err := jose.GenerateKey(r.alg, 0, rand.Reader)
	if err != nil {
		return err
	}
	s, err := newSigner(key, r.alg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, err := jose.NewJWK(r.active.Public(), r.alg)
	if err != nil {
		return err
	}
	old.KeyID = r.active.KeyID()
	r.retired = append(r.retired, retiredKey{jwk: old, removeAt: r.now().Add(r.ttl + time.Minute)})
	r.active = s
	return nil
}

// JWKS returns the published key set: the active key and the retired keys
// not yet due for removal.
func (r *KeyRing) JWKS() (*jose.JWKS, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	active, err := jose.NewJWK(r.active.Public(), r.active.Algorithm())
	if err != nil {
		return nil, err
	}
	active.KeyID = r.active.KeyID()
	set := &jose.JWKS{Keys: []*jose.JWK{active}}
	now := r.now()
	for _, k := range r.retired {
		if now.Before(k.removeAt) {
			set.Keys = append(set.Keys, k.jwk)
		}
	}
	return set, nil
}

// NewHandler returns the issuer's routes: GET /jwks.json and POST /token.
func NewHandler(cfg Config, ring *KeyRing, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		set, err := ring.JWKS()
		if err == nil {
			var b []byte
			if b, err = set.MarshalJSON(); err == nil {
				w.Header().Set("Content-Type", "application/jwk-set+json")
				w.Header().Set("Cache-Control", "public, max-age=300")
				w.Write(b)
				return
			}
		}
		log.ErrorContext(r.Context(), "jwks", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(id), []byte(cfg.ClientID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(secret), []byte(cfg.ClientSecret)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
			return
		}
		now := cfg.Now()
		jti := make([]byte, 16)
		rand.Read(jti)
		tok, err := ring.Signer().SignJWT("at+jwt", &jose.Claims{
			Issuer:   cfg.Issuer,
			Subject:  id,
			Audience: jose.Audience{cfg.Audience},
			IssuedAt: jose.NewNumericDate(now),
			Expiry:   jose.NewNumericDate(now.Add(cfg.TTL)),
			ID:       fmt.Sprintf("%x", jti),
			Extra:    map[string]any{"client_id": id, "scope": "read:messages"},
		})
		if err != nil {
			log.ErrorContext(r.Context(), "sign", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok,
			"token_type":   "Bearer",
			"expires_in":   int(cfg.TTL / time.Second),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, log *slog.Logger) error {
	listen := getenv("LISTEN", "127.0.0.1:4001")
	cfg := Config{
		Issuer:       getenv("ISSUER", "http://"+listen),
		Audience:     getenv("AUDIENCE", "api://demo"),
		ClientID:     getenv("CLIENT_ID", "demo"),
		ClientSecret: os.Getenv("CLIENT_SECRET"),
		TTL:          15 * time.Minute,
		Alg:          jose.ES256,
		Now:          time.Now,
	}
	if cfg.ClientSecret == "" {
		return errors.New("CLIENT_SECRET is not set")
	}
	var key any
	if path := os.Getenv("KEY_FILE"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if key, err = jose.ParseKeyPEM(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if cfg.Alg, err = jose.DefaultAlgorithm(key); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	ring, err := NewKeyRing(key, cfg.Alg, cfg.TTL, cfg.Now)
	if err != nil {
		return err
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := ring.Rotate(); err != nil {
				log.Error("rotate", "err", err)
				continue
			}
			log.Info("rotated", "kid", ring.Signer().KeyID())
		}
	}()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           NewHandler(cfg, ring, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "kid", ring.Signer().KeyID())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("issue-tokens", "err", err)
		os.Exit(1)
	}
}
