package server

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/storage/sqlite"
)

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

var masterKey = bytes.Repeat([]byte{7}, issuer.MasterKeySize)

// stack is an issuer served over real HTTP on a loopback port.
type stack struct {
	srv    *httptest.Server
	store  keyward.Store
	keys   *issuer.KeyManager
	issuer *issuer.Issuer
	logs   *syncBuffer
	server *Server
}

type stackOptions struct {
	sqlite   bool
	noStep   bool
	throttle issuer.ThrottleConfig
	// trustedProxies is Config.TrustedProxies.
	trustedProxies []netip.Prefix
	// alg is the configured signing algorithm; zero means ES256.
	alg jose.Algorithm
	// now is the clock of the store, the key manager, the issuer and the
	// server; nil means time.Now.
	now func() time.Time
	// static names a key file in jose/testdata/keys to run with as the
	// static primary key (--signing-key); empty means none.
	static string
	// noKeyStore gives the key manager neither store nor sealer: the
	// static key alone.
	noKeyStore bool
	// logHandler, when set, wraps the handler of the stack's logger.
	logHandler func(slog.Handler) slog.Handler
	// tls serves the issuer over https (its URL, the iss, is https).
	tls bool
	// store, when set, is the store, instead of a new memory or SQLite
	// one; the caller closes it.
	store keyward.Store
	// wrap, when set, wraps the store that the issuer and the server use;
	// the key manager and stack.store keep the store itself.
	wrap func(keyward.Store) keyward.Store
	// requireMFA is issuer.Config.RequireMFA.
	requireMFA bool
	// noTOTP gives the issuer no Sealer: TOTP cannot be enrolled, as on
	// a server without a master key.
	noTOTP bool
	// dpopNonces is Config.DPoPNonces.
	dpopNonces *dpop.Nonces
}

// staticKey reads a PKCS #8 private key from jose/testdata/keys.
func staticKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "jose", "testdata", "keys", name))
	if err != nil {
		tb.Fatal(err)
	}
	k, err := jose.ParseKeyPEM(b)
	if err != nil {
		tb.Fatal(err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		tb.Fatalf("%s: %T is not a private key", name, k)
	}
	return signer
}

// fakeClock is a clock that tests move by hand, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock returns a clock at the current second, so that tokens
// signed at its time are also valid for verifiers on the real clock.
func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newStack(tb testing.TB, opt stackOptions) *stack {
	tb.Helper()
	var store keyward.Store = memory.New(memory.Config{Now: opt.now})
	if opt.sqlite {
		s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "keyward.db"), Now: opt.now})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		store = s
	}
	if opt.store != nil {
		store = opt.store
	}
	logs := new(syncBuffer)
	var lh slog.Handler = slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if opt.logHandler != nil {
		lh = opt.logHandler(lh)
	}
	logger := slog.New(lh)
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	if opt.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	sealer, err := issuer.NewSealer(masterKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	alg := opt.alg
	if alg == "" {
		alg = jose.ES256
	}
	kcfg := issuer.KeyManagerConfig{
		Store: store, Sealer: sealer, Alg: alg, JWKSMaxAge: 5 * time.Minute, Logger: logger, Now: opt.now,
	}
	if opt.static != "" {
		kcfg.Static = staticKey(tb, opt.static)
	}
	if opt.noKeyStore {
		kcfg.Store, kcfg.Sealer = nil, nil
	}
	km, err := issuer.NewKeyManager(kcfg)
	if err != nil {
		tb.Fatal(err)
	}
	if !opt.noStep {
		if err := km.Step(tb.Context()); err != nil {
			tb.Fatal(err)
		}
	}
	served := store
	if opt.wrap != nil {
		served = opt.wrap(store)
	}
	totpSealer, err := issuer.NewTOTPSealer(masterKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if opt.noTOTP {
		totpSealer = nil
	}
	iss, err := issuer.New(issuer.Config{
		Store: served, Keys: km, Issuer: srv.URL, Logger: logger, Throttle: opt.throttle,
		Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, Now: opt.now,
		Sealer: totpSealer, RequireMFA: opt.requireMFA,
	})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Issuer: iss, Store: served, Revocations: served, Logger: logger, MaxBodyBytes: 8 << 10, Now: opt.now, TrustedProxies: opt.trustedProxies,
		DPoPNonces: opt.dpopNonces})
	if err != nil {
		tb.Fatal(err)
	}
	h = s
	return &stack{srv: srv, store: store, keys: km, issuer: iss, logs: logs, server: s}
}

// do sends a request and returns the response with its body read.
func (s *stack) do(tb testing.TB, method, path, contentType string, body io.Reader, mutate func(*http.Request)) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, s.srv.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

func (s *stack) postForm(tb testing.TB, path string, form url.Values, mutate func(*http.Request)) (*http.Response, []byte) {
	tb.Helper()
	return s.do(tb, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), mutate)
}

func (s *stack) login(tb testing.TB, user, password string) issuer.TokenResponse {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, b := s.do(tb, http.MethodPost, "/login", "application/json", bytes.NewReader(body), nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	return decodeToken(tb, resp, b)
}

func decodeToken(tb testing.TB, resp *http.Response, b []byte) issuer.TokenResponse {
	tb.Helper()
	if resp.Header.Get("Cache-Control") != "no-store" {
		tb.Fatalf("token response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	var tr issuer.TokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		tb.Fatalf("%v: %s", err, b)
	}
	return tr
}

func (s *stack) addUser(tb testing.TB, name, password string) keyward.User {
	tb.Helper()
	u, err := issuer.NewUser(tb.Context(), s.store, name, password, []string{"admin"},
		map[string]any{"email": name + "@example.com"}, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (s *stack) addClient(tb testing.TB, c keyward.Client) string {
	tb.Helper()
	secret, hash, err := issuer.NewClientSecret(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if !c.Public {
		c.SecretHash = hash
	}
	if err := s.store.CreateClient(tb.Context(), c); err != nil {
		tb.Fatal(err)
	}
	return secret
}

func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

// oauthError decodes an RFC 6749 §5.2 error body.
func oauthError(tb testing.TB, resp *http.Response, b []byte) string {
	tb.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("error Content-Type %q, body %s", ct, b)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		tb.Fatalf("not an RFC 6749 error body: %s (%v)", b, err)
	}
	return e.Error
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.addUser(t, "alice", "alice-password-1")
	secret := s.addClient(t, keyward.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
	const wrongSecret = "wrong-secret-value-0123456789"
	const wrongPassword = "wrong-password-value-42"
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	huge := strings.Repeat("a", 9<<10)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		mutate      func(*http.Request)
		status      int
		code        string
	}{
		{"login wrong content type", "POST", "/login", "text/plain", `{"username":"alice","password":"x"}`, nil, 415, "invalid_request"},
		{"login no content type", "POST", "/login", "", `{"username":"alice","password":"x"}`, nil, 415, "invalid_request"},
		{"login malformed JSON", "POST", "/login", "application/json", `{"username":"alice",`, nil, 400, "invalid_request"},
		{"login JSON array", "POST", "/login", "application/json", `["alice","x"]`, nil, 400, "invalid_request"},
		{"login duplicate member", "POST", "/login", "application/json", `{"username":"alice","username":"bob","password":"x"}`, nil, 400, "invalid_request"},
		{"login number password", "POST", "/login", "application/json", `{"username":"alice","password":12}`, nil, 400, "invalid_request"},
		{"login missing password", "POST", "/login", "application/json", `{"username":"alice"}`, nil, 400, "invalid_request"},
		{"login huge body", "POST", "/login", "application/json", `{"username":"alice","password":"` + huge + `"}`, nil, 413, "invalid_request"},
		{"login wrong password", "POST", "/login", "application/json", `{"username":"alice","password":"` + wrongPassword + `"}`, nil, 400, "invalid_grant"},
		{"login unknown user", "POST", "/login", "application/x-www-form-urlencoded", form("username", "ghost", "password", wrongPassword), nil, 400, "invalid_grant"},
		{"login GET", "GET", "/login", "", "", nil, 405, "invalid_request"},
		{"token JSON body", "POST", "/token", "application/json", `{"grant_type":"client_credentials"}`, nil, 415, "invalid_request"},
		{"token no grant type", "POST", "/token", "application/x-www-form-urlencoded", form("scope", "read"), nil, 400, "invalid_request"},
		{"token password grant", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "password", "username", "alice", "password", "x"), nil, 400, "unsupported_grant_type"},
		{"token unknown grant", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "urn:example:nope"), nil, 400, "unsupported_grant_type"},
		{"token unknown code", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "authorization_code", "code", "x"), nil, 400, "invalid_grant"},
		{"token repeated parameter", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "grant_type", "client_credentials"), nil, 400, "invalid_request"},
		{"token malformed form", "POST", "/token", "application/x-www-form-urlencoded", "grant_type=%zz", nil, 400, "invalid_request"},
		{"token huge body", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "refresh_token", "refresh_token", huge), nil, 413, "invalid_request"},
		{"refresh missing token", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "refresh_token"), nil, 400, "invalid_request"},
		{"refresh unknown token", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "refresh_token", "refresh_token", "nope"), nil, 400, "invalid_grant"},
		{"client credentials no auth", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), nil, 401, "invalid_client"},
		{"client credentials wrong secret basic", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), basic("svc", wrongSecret), 401, "invalid_client"},
		{"client credentials wrong secret post", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_id", "svc", "client_secret", wrongSecret), nil, 401, "invalid_client"},
		{"client credentials unknown client", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), basic("ghost", wrongSecret), 401, "invalid_client"},
		{"client credentials two methods", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_secret", secret), basic("svc", secret), 400, "invalid_request"},
		{"client credentials bearer auth", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, 401, "invalid_client"},
		{"client credentials bad scope", "POST", "/token", "application/x-www-form-urlencoded", form("grant_type", "client_credentials", "scope", "admin"), basic("svc", secret), 400, "invalid_scope"},
		{"token GET", "GET", "/token", "", "", nil, 405, "invalid_request"},
		{"revoke no token", "POST", "/revoke", "application/x-www-form-urlencoded", form("token_type_hint", "refresh_token"), nil, 400, "invalid_request"},
		{"revoke bad hint", "POST", "/revoke", "application/x-www-form-urlencoded", form("token", "x", "token_type_hint", "id_token"), nil, 400, "unsupported_token_type"},
		{"revoke wrong secret", "POST", "/revoke", "application/x-www-form-urlencoded", form("token", "x"), basic("svc", wrongSecret), 401, "invalid_client"},
		{"revoke JSON", "POST", "/revoke", "application/json", `{"token":"x"}`, nil, 415, "invalid_request"},
		{"JWKS POST", "POST", "/jwks.json", "application/json", `{}`, nil, 405, "invalid_request"},
		{"unknown path", "GET", "/nope", "", "", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, b := s.do(t, tt.method, tt.path, tt.contentType, strings.NewReader(tt.body), tt.mutate)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if got := oauthError(t, resp, b); got != tt.code {
				t.Fatalf("error %q, want %q: %s", got, tt.code, b)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("error response Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate (RFC 6749 §5.2)")
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	t.Cleanup(func() {
		out := s.logs.String()
		for _, secretValue := range []string{secret, wrongSecret, wrongPassword, "alice-password-1"} {
			if strings.Contains(out, secretValue) {
				t.Errorf("a secret is in the log:\n%s", out)
			}
		}
		if !strings.Contains(out, `"msg":"request_failed"`) || !strings.Contains(out, `"request_id"`) {
			t.Errorf("failures are not logged with a request ID:\n%s", out)
		}
	})
}

func TestLoginThrottledOverHTTP(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{throttle: issuer.ThrottleConfig{AccountBurst: 2, AccountEvery: time.Hour}})
	s.addUser(t, "alice", "pw-alice-1")
	for range 2 {
		resp, _ := s.postForm(t, "/login", url.Values{"username": {"alice"}, "password": {"bad"}}, nil)
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	resp, b := s.postForm(t, "/login", url.Values{"username": {"alice"}, "password": {"pw-alice-1"}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || oauthError(t, resp, b) != "slow_down" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third attempt: %d %s Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
}

func TestJWKSAndDiscovery(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	signer, err := s.keys.Signer()
	if err != nil {
		t.Fatal(err)
	}
	idSigner, err := s.keys.IDTokenSigner(jose.RS256)
	if err != nil || idSigner.KeyID() == signer.KeyID() {
		t.Fatalf("RS256 ID-token signer %v: %v", idSigner, err)
	}
	var etag string
	for _, path := range []string{"/.well-known/jwks.json", "/jwks.json"} {
		resp, b := s.do(t, http.MethodGet, path, "", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=300" || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		// The ES256 key and the RS256 key of ID tokens.
		set, err := jose.ParseJWKS(b)
		if err != nil || len(set.Keys) != 2 {
			t.Fatalf("%s: %s (%v)", path, b, err)
		}
		for _, want := range []*jose.Signer{signer, idSigner} {
			keys := set.Lookup(want.KeyID())
			if len(keys) != 1 || keys[0].Algorithm != want.Algorithm() || keys[0].Use != "sig" {
				t.Fatalf("%s: no %s key %s with use sig: %s", path, want.Algorithm(), want.KeyID(), b)
			}
		}
		etag = resp.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
			t.Fatalf("ETag %q", etag)
		}
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		resp, b := s.do(t, http.MethodGet, "/jwks.json", "", nil, func(r *http.Request) { r.Header.Set("If-None-Match", inm) })
		if resp.StatusCode != http.StatusNotModified || len(b) != 0 || resp.Header.Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d", inm, resp.StatusCode)
		}
	}
	if resp, _ := s.do(t, http.MethodGet, "/jwks.json", "", nil, func(r *http.Request) { r.Header.Set("If-None-Match", `"stale"`) }); resp.StatusCode != 200 {
		t.Fatalf("stale ETag: %d", resp.StatusCode)
	}

	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, b := s.do(t, http.MethodGet, path, "", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		var md map[string]any
		if err := json.Unmarshal(b, &md); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"issuer":                                    s.srv.URL,
			"jwks_uri":                                  s.srv.URL + "/.well-known/jwks.json",
			"token_endpoint":                            s.srv.URL + "/token",
			"revocation_endpoint":                       s.srv.URL + "/revoke",
			"grant_types_supported":                     []any{"authorization_code", "refresh_token", "client_credentials"},
			"response_types_supported":                  []any{"code"},
			"id_token_signing_alg_values_supported":     []any{"RS256", "ES256"},
			"access_token_signing_alg_values_supported": []any{"ES256"},
			"token_endpoint_auth_methods_supported":     []any{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		}
		for k, v := range want {
			got, _ := json.Marshal(md[k])
			exp, _ := json.Marshal(v)
			if !bytes.Equal(got, exp) {
				t.Errorf("%s: %s = %s, want %s", path, k, got, exp)
			}
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noStep: true})
	if resp, _ := s.do(t, http.MethodGet, "/healthz", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	resp, b := s.do(t, http.MethodGet, "/readyz", "", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || oauthError(t, resp, b) != "temporarily_unavailable" {
		t.Fatalf("readyz without a key: %d %s", resp.StatusCode, b)
	}
	if err := s.keys.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	if resp, b := s.do(t, http.MethodGet, "/readyz", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("readyz with a key: %d %s", resp.StatusCode, b)
	}
	s.store.Close()
}

// TestReadyIDTokenKey checks that /readyz fails when the issuer keeps
// RS256 ID-token keys (its algorithm is not RS256) and none is active, and
// that an RS256 issuer, which keeps none, is ready with its primary key.
func TestReadyIDTokenKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  stackOptions
		// retire retires the active ID-token keys, leaving none active.
		retire bool
		status int
	}{
		{name: "ES256 with both keys", opt: stackOptions{alg: jose.ES256}, status: http.StatusOK},
		{name: "ES256 without an ID-token key", opt: stackOptions{alg: jose.ES256}, retire: true, status: http.StatusServiceUnavailable},
		{name: "EdDSA without an ID-token key", opt: stackOptions{alg: jose.EdDSA}, retire: true, status: http.StatusServiceUnavailable},
		{name: "RS256 keeps no ID-token key", opt: stackOptions{alg: jose.RS256}, retire: true, status: http.StatusOK},
		{name: "static P-256 key before its ID-token key", opt: stackOptions{static: "p256.pem", noStep: true}, status: http.StatusServiceUnavailable},
		{name: "static P-256 key with its ID-token key", opt: stackOptions{static: "p256.pem"}, status: http.StatusOK},
		{name: "static P-256 key without a store", opt: stackOptions{static: "p256.pem", noKeyStore: true}, status: http.StatusOK},
		{name: "static RSA key signs RS256 itself", opt: stackOptions{static: "rsa2048.pem", noStep: true}, status: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, tt.opt)
			if tt.retire {
				now := time.Now()
				err := s.store.UpdateKeys(t.Context(), func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
					keys := slices.Clone(cur)
					changed := false
					for i, k := range keys {
						if k.Purpose == keyward.KeyPurposeIDToken && k.State == keyward.KeyActive {
							keys[i].State, keys[i].RetireAt, keys[i].RemoveAt = keyward.KeyRetired, now, now.Add(time.Hour)
							changed = true
						}
					}
					if !changed {
						return nil, keyward.ErrNoChange
					}
					return keys, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.keys.Reload(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			resp, b := s.do(t, http.MethodGet, "/readyz", "", nil, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("readyz %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status != http.StatusOK {
				if got := oauthError(t, resp, b); got != "temporarily_unavailable" || !strings.Contains(string(b), "ID-token") {
					t.Fatalf("readyz error %q: %s, want temporarily_unavailable about the ID-token key", got, b)
				}
			}
		})
	}
}

// TestNoSecretsInLogs runs login, refresh, reuse, revocation and a wrong
// client secret, and checks that no password, refresh token, client secret
// or key material reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{sqlite: true})
	const password = "correct-horse-battery-staple"
	s.addUser(t, "alice", password)
	secret := s.addClient(t, keyward.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})

	first := s.login(t, "alice", password)
	resp, b := s.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, b)
	}
	second := decodeToken(t, resp, b)
	resp, b = s.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}, nil)
	if resp.StatusCode != 400 || oauthError(t, resp, b) != "invalid_grant" {
		t.Fatalf("reuse: %d %s", resp.StatusCode, b)
	}
	resp, b = s.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}}, nil)
	if resp.StatusCode != 400 || oauthError(t, resp, b) != "invalid_grant" {
		t.Fatalf("token issued from a reused one: %d %s", resp.StatusCode, b)
	}
	third := s.login(t, "alice", password)
	if resp, b := s.postForm(t, "/revoke", url.Values{"token": {third.RefreshToken}, "token_type_hint": {"refresh_token"}}, nil); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	if resp, b := s.postForm(t, "/revoke", url.Values{"token": {third.AccessToken}}, nil); resp.StatusCode != 200 {
		t.Fatalf("revoke access token: %d %s", resp.StatusCode, b)
	}
	resp, b = s.postForm(t, "/token", url.Values{"grant_type": {"client_credentials"}}, basic("svc", secret))
	if resp.StatusCode != 200 {
		t.Fatalf("client credentials: %d %s", resp.StatusCode, b)
	}
	cc := decodeToken(t, resp, b)
	s.postForm(t, "/token", url.Values{"grant_type": {"client_credentials"}}, basic("svc", secret+"x"))
	s.postForm(t, "/login", url.Values{"username": {"alice"}, "password": {password + "x"}}, nil)

	out := s.logs.String()
	for _, want := range []string{"login_succeeded", "login_failed", "token_issued", "refresh_reuse_detected", "token_revoked", "client_auth_failed", "key_rotated"} {
		if !strings.Contains(out, `"msg":"`+want+`"`) {
			t.Errorf("no %s line in the log", want)
		}
	}
	keys, err := s.store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"password":             password,
		"first refresh token":  first.RefreshToken,
		"second refresh token": second.RefreshToken,
		"third refresh token":  third.RefreshToken,
		"client secret":        secret,
		"wrong client secret":  secret + "x",
		"master key":           base64.StdEncoding.EncodeToString(masterKey),
		"sealed private key":   base64.StdEncoding.EncodeToString(keys[0].PrivateKey),
		"access token":         cc.AccessToken,
		"access token (jwt)":   first.AccessToken,
		"PEM":                  "PRIVATE KEY",
		"private JWK member":   `"d":`,
	}
	for name, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("the %s is in the log", name)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
