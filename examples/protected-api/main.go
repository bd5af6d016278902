// Command protected-api is the classic recipe's API in Go: a public "/" and
// a "/protected" route that needs a valid bearer token, checked by keyward's
// verifier against the issuer's JWKS.
//
//	JWKS_URL=http://localhost:4000/jwks.json ISSUER=http://localhost:4000 AUDIENCE=api \
//	  go run ./protected-api    # in examples/, a module of its own
//	curl -s http://127.0.0.1:3001/
//	curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3001/protected
//
// Environment: JWKS_URL, ISSUER and AUDIENCE (required), ALGS (default
// RS256,ES256), LISTEN (default 127.0.0.1:3001).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// Config is what the API needs to know about its issuer.
type Config struct {
	JWKSURL    string
	Issuer     string
	Audience   string
	Algorithms []jose.Algorithm
	// Client fetches the JWKS; nil means jwks.NewClient().
	Client *http.Client
}

// New returns the API's handler and the key set it reads, whose Run the
// caller starts for background refreshes.
func New(cfg Config, log *slog.Logger) (http.Handler, *jwks.Set, error) {
	keys, err := jwks.New(jwks.Config{URL: cfg.JWKSURL, Client: cfg.Client})
	if err != nil {
		return nil, nil, err
	}
	v, err := verifier.New(verifier.Config{
		Keys:       keys,
		Issuers:    []string{cfg.Issuer},
		Audiences:  []string{cfg.Audience},
		Algorithms: cfg.Algorithms,
	})
	if err != nil {
		return nil, nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"message": "This is a public route"})
	})
	mux.HandleFunc("GET /protected", func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.ClaimsFrom(r.Context())
		writeJSON(w, map[string]any{"message": "You have accessed a protected route!", "claims": claims})
	})
	protect := verifier.Middleware(v, verifier.MiddlewareConfig{
		Realm:       "protected-api",
		PublicPaths: []string{"/"},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The precise reason goes to the log, the category to the client.
			log.InfoContext(r.Context(), "rejected", "path", r.URL.Path, "err", err)
			verifier.WriteError(w, "protected-api", err)
		},
	})
	return protect(mux), keys, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func configFromEnv() (Config, string, error) {
	cfg := Config{JWKSURL: os.Getenv("JWKS_URL"), Issuer: os.Getenv("ISSUER"), Audience: os.Getenv("AUDIENCE")}
	for name, v := range map[string]string{"JWKS_URL": cfg.JWKSURL, "ISSUER": cfg.Issuer, "AUDIENCE": cfg.Audience} {
		if v == "" {
			return cfg, "", fmt.Errorf("%s is not set", name)
		}
	}
	algs := os.Getenv("ALGS")
	if algs == "" {
		algs = "RS256,ES256"
	}
	set, err := jose.ParseAlgorithmSet(algs)
	if err != nil {
		return cfg, "", fmt.Errorf("ALGS: %w", err)
	}
	cfg.Algorithms = set.Algorithms()
	listen := os.Getenv("LISTEN")
	if listen == "" {
		listen = "127.0.0.1:3001"
	}
	return cfg, listen, nil
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, listen, err := configFromEnv()
	if err != nil {
		return err
	}
	h, keys, err := New(cfg, log)
	if err != nil {
		return err
	}
	go keys.Run(ctx)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
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
	log.Info("listening", "addr", "http://"+ln.Addr().String())
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
		log.Error("protected-api", "err", err)
		os.Exit(1)
	}
}
