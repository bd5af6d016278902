// Package server is the HTTP surface of keyward's authorization server:
// first-party login, the token and revocation endpoints, the JWK Set,
// discovery metadata and health checks, on the standard [http.ServeMux].
//
// Every handler returns an error through one adapter that answers it as RFC
// 6749 §5.2 JSON ({"error":"...","error_description":"..."}) and logs it with
// the request ID. One table decides the answer to every error: the issuer's
// OAuth errors ([issuer.Error]) by their code, the domain errors
// ([keyward.Error]) by their category, and a store that cannot reach its
// database ([keyward.ErrUnavailable]) as 503 temporarily_unavailable with
// Retry-After, so that clients retry. Request bodies are capped; token
// responses carry Cache-Control: no-store.
//
// It owns the routes, the OAuth 2.0 and OpenID Connect endpoints, the login
// page and discovery; the rules behind them belong to issuer. It must never
// import a storage backend or a SQL driver (it sees the store through the
// [keyward.Store] interfaces), nor gate or cmd.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/issuer"
)

// Pinger reports whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config configures a [Server].
type Config struct {
	// Issuer issues the tokens. Required.
	Issuer *issuer.Issuer
	// Store is pinged by /readyz. Required.
	Store Pinger
	// Revocations, when set, is what GET /revocations publishes: the
	// revocation feed that verifiers poll to refuse revoked access tokens
	// before they expire. Nil means no feed (404): verifiers then learn of
	// no revocation, so an issuer with a store passes the store here.
	Revocations RevocationLister
	// Logger receives one line per failed request. Nil means none.
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies. Zero means 64 KiB.
	MaxBodyBytes int64
	// Now is the clock of the revocation feed and of DPoP proofs. Nil
	// means time.Now.
	Now func() time.Time
	// Metrics, when set, receives the latency of every request by route
	// pattern. Nil means none.
	Metrics HTTPObserver
	// TrustedProxies are the networks of the reverse proxies in front of
	// the server ([ParseTrustedProxies]). The login throttle keys on the
	// client's address: from a peer in one of them it is read from
	// X-Forwarded-For, or Forwarded when the request has none, taking the
	// right-most hop that is not itself a trusted proxy; from any other
	// peer it is the peer's address, whatever the headers say. Nil means
	// no proxy is trusted: behind a proxy every client then shares the
	// proxy's throttle buckets.
	TrustedProxies []netip.Prefix
	// RevocationWaitersPerClient is the most long-polls of the revocation
	// feed one client network holds at once; past it that network's
	// long-polls are answered at once and their verifiers poll. Zero means
	// [MaxRevocationWaitersPerClient]; negative is an error. Raise it when
	// more verifier processes than that reach the issuer from one address
	// (a NAT gateway, or a proxy not listed in TrustedProxies).
	RevocationWaitersPerClient int
	// DPoPNonces, when set, makes /token and /userinfo require a server
	// nonce in every DPoP proof (RFC 9449 §8), sent in the DPoP-Nonce
	// header of their answers: a proof made in advance, by code that ran
	// in the client once, is refused once the nonce changes. Replicas must
	// share its secret to accept each other's nonces. Nil means no nonce
	// is required; proofs are still checked in full, replays included.
	DPoPNonces *dpop.Nonces
	// Passkeys, when set, turns on passkeys: sign-in with a passkey on
	// the login page, and /account/passkeys, where users register, rename
	// and remove theirs. Its relying party is the issuer URL's
	// ([issuer.RelyingParty]). Nil means no passkey endpoint (404) and a
	// login page with a password only.
	Passkeys *issuer.Passkeys
}

// Server is the issuer's HTTP handler.
type Server struct {
	cfg Config
	iss *issuer.Issuer
	log *slog.Logger
	mux *http.ServeMux
	// pages are the HTML pages of /authorize and /logout.
	pages *pages
	// account holds the pages of /account and of the second factor.
	account *accountPages
	// passkeyPages is the passkey management page, when passkeys are on.
	passkeyPages *passkeyPages
	// ids gives each request without a sane X-Request-Id its ID.
	ids *httpx.RequestIDs
	// waiters counts the GET /revocations long-polls held now.
	waiters atomic.Int64
	// holds counts the held long-polls by client network.
	holds revocationHolds
	// fullState is the last full state of the revocation feed, encoded.
	fullStates fullStateCache
	// heads is the revocation log's head as the held long-polls last read
	// it, shared among them.
	heads logHeads
	// dpop checks the DPoP proofs of /token and /userinfo; its replay
	// cache is this process's own.
	dpop     *dpop.Checker
	dpopURLs dpopEndpoints
}

// New returns the handler with every route registered.
func New(cfg Config) (*Server, error) {
	if cfg.RevocationWaitersPerClient < 0 {
		return nil, errors.New("server: negative RevocationWaitersPerClient")
	}
	if cfg.Issuer == nil || cfg.Store == nil {
		return nil, errors.New("server: Config.Issuer and Config.Store are required")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("server: negative MaxBodyBytes")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	s := &Server{cfg: cfg, iss: cfg.Issuer, log: cfg.Logger, mux: http.NewServeMux()}
	var err error
	if s.ids, err = httpx.NewRequestIDs(nil); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.pages, err = loadPages(); err != nil {
		return nil, fmt.Errorf("server: templates: %w", err)
	}
	if s.account, err = loadAccountPages(s.pages); err != nil {
		return nil, fmt.Errorf("server: templates: %w", err)
	}
	if s.dpop, err = newDPoPChecker(cfg); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.dpopURLs, err = newDPoPEndpoints(cfg.Issuer.IssuerURL()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.route("POST /login", s.login)
	s.route("POST /token", s.token)
	s.route("POST /revoke", s.revoke)
	s.route("GET /revocations", s.revocations)
	s.route("GET /.well-known/jwks.json", s.jwks)
	s.route("GET /jwks.json", s.jwks)
	s.route("GET /.well-known/openid-configuration", s.discovery)
	s.route("GET /.well-known/oauth-authorization-server", s.discovery)
	s.route("GET /healthz", s.healthz)
	s.route("GET /readyz", s.readyz)
	s.route("GET /authorize", s.authorize)
	s.route("POST /authorize", s.authorize)
	s.route("GET /userinfo", s.userinfo)
	s.route("POST /introspect", s.introspect)
	s.route("POST /userinfo", s.userinfo)
	s.route("GET /logout", s.logout)
	s.route("POST /logout", s.logout)
	s.accountRoutes()
	if err := s.passkeyRoutes(); err != nil {
		return nil, fmt.Errorf("server: passkeys: %w", err)
	}
	// Other methods on known paths, and unknown paths, get JSON errors too.
	for path, allow := range map[string]string{
		"/login": "POST", "/token": "POST", "/revoke": "POST",
		"/.well-known/jwks.json": "GET, HEAD", "/jwks.json": "GET, HEAD",
		"/.well-known/openid-configuration": "GET, HEAD", "/.well-known/oauth-authorization-server": "GET, HEAD",
		"/healthz": "GET, HEAD", "/readyz": "GET, HEAD", "/revocations": "GET, HEAD",
		"/authorize": "GET, HEAD, POST", "/userinfo": "GET, HEAD, POST", "/logout": "GET, HEAD, POST", "/introspect": "POST",
	} {
		s.route(path, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return errMethod
		})
	}
	s.route("/", func(w http.ResponseWriter, r *http.Request) error {
		return errNoRoute
	})
	return s, nil
}

// ServeHTTP gives every request an ID (the X-Request-Id response header and
// the request_id of log lines), taken from the request's X-Request-Id when
// it is short and plain, else a new one, and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := s.ids.FromRequest(r)
	w.Header().Set("X-Request-Id", id)
	s.mux.ServeHTTP(w, r.WithContext(httpx.WithRequestID(r.Context(), id)))
}

// RequestID returns the request ID the server gave the request whose
// context is ctx (the X-Request-Id of its response), or "" outside a
// request. Log handlers use it to put request_id on the lines logged during
// the request, the issuer's audit lines among them.
func RequestID(ctx context.Context) string { return httpx.RequestIDFrom(ctx) }

// handlerFunc is a handler that reports failure by returning an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route registers h through the error adapter.
func (s *Server) route(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, s.observe(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}))
}

// errorBody is the RFC 6749 §5.2 error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// fail is the one place where errors become responses and log lines: the
// answer comes from [answerFor].
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	a := answerFor(err)
	s.logFailure(r, a.status, err)
	a.setHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, a.status, errorBody{Error: a.code, Description: a.desc})
}

// logFailure logs a failed request: at error level for a 5xx status, else
// at info level.
func (s *Server) logFailure(r *http.Request, status int, err error) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "request_failed",
		slog.String("request_id", httpx.RequestIDFrom(r.Context())),
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("error", err.Error()))
}

// writeJSON writes v as the JSON response with the status.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
