package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	v := newVerifier(t, baseConfig(c, rsaA))
	good := rsaA.sign(t, "at+jwt", claims())
	expiredClaims := claims()
	expiredClaims.Expiry = jose.NewNumericDate(t0.AddDate(0, 0, -1))
	expired := rsaA.sign(t, "at+jwt", expiredClaims)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		cl, ok := ClaimsFrom(r.Context())
		if ok {
			tok, _ := TokenFrom(r.Context())
			if _, err := v.Verify(r.Context(), tok); err != nil {
				t.Errorf("TokenFrom gave a token that does not verify: %v", err)
			}
			io.WriteString(w, "sub="+cl.Subject)
			return
		}
		io.WriteString(w, "anonymous")
	})
	mux.Handle("/admin", RequireRole("admin", "ops")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "admin")
	})))
	mux.Handle("/write", RequireScope("write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "wrote")
	})))
	mux.Handle("/delete", RequireScope("write", "delete")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "deleted")
	})))
	mux.Handle("/superuser", RequireRole("root")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "root")
	})))
	h := Middleware(v, MiddlewareConfig{
		Realm:          "api",
		PublicPaths:    []string{"/", "/healthz"},
		PublicPrefixes: []string{"/static/"},
	})(mux)

	tests := []struct {
		name       string
		path       string
		auth       []string
		wantStatus int
		wantBody   string // substring
		wantChall  string // exact WWW-Authenticate; "-" means absent
	}{
		{name: "public root", path: "/", wantStatus: 200, wantBody: "anonymous", wantChall: "-"},
		{name: "public prefix", path: "/static/app.js", wantStatus: 200, wantBody: "anonymous"},
		{name: "prefix needs its slash", path: "/static-admin", wantStatus: 401},
		{name: "dot-dot out of a public prefix", path: "/static/../protected", wantStatus: 401},
		{name: "double slash", path: "//healthz", wantStatus: 401},
		{name: "dot segment in a public prefix", path: "/static/./app.js", wantStatus: 401},
		{name: "no token", path: "/protected", wantStatus: 401, wantBody: `"bearer token required"`, wantChall: `Bearer realm="api"`},
		{name: "token in the query is ignored", path: "/protected?access_token=" + good, wantStatus: 401, wantChall: `Bearer realm="api"`},
		{name: "valid", path: "/protected", auth: []string{"Bearer " + good}, wantStatus: 200, wantBody: "sub=user-1"},
		{name: "scheme case-insensitive", path: "/protected", auth: []string{"bEaReR " + good}, wantStatus: 200, wantBody: "sub=user-1"},
		{name: "public path ignores the token", path: "/", auth: []string{"Bearer " + good}, wantStatus: 200, wantBody: "anonymous"},
		{name: "basic scheme", path: "/protected", auth: []string{"Basic dXNlcjpwYXNz"}, wantStatus: 401, wantChall: `Bearer realm="api"`},
		{name: "empty bearer", path: "/protected", auth: []string{"Bearer "}, wantStatus: 400,
			wantChall: `Bearer realm="api", error="invalid_request", error_description="malformed Authorization header"`},
		{name: "two headers", path: "/protected", auth: []string{"Bearer " + good, "Bearer " + good}, wantStatus: 400},
		{name: "two tokens", path: "/protected", auth: []string{"Bearer a.b.c d.e.f"}, wantStatus: 400},
		{name: "tab in the token", path: "/protected", auth: []string{"Bearer " + good[:20] + "\t" + good[20:]}, wantStatus: 400},
		{name: "bad characters", path: "/protected", auth: []string{`Bearer a"b`}, wantStatus: 401,
			wantChall: `Bearer realm="api", error="invalid_token", error_description="token malformed"`},
		{name: "expired", path: "/protected", auth: []string{"Bearer " + expired}, wantStatus: 401,
			wantBody:  `{"error":"invalid_token","error_description":"token expired"}`,
			wantChall: `Bearer realm="api", error="invalid_token", error_description="token expired"`},
		{name: "garbage", path: "/protected", auth: []string{"Bearer abc.def.ghi"}, wantStatus: 401,
			wantChall: `Bearer realm="api", error="invalid_token", error_description="token malformed"`},
		{name: "role granted", path: "/admin", auth: []string{"Bearer " + good}, wantStatus: 200, wantBody: "admin"},
		{name: "role missing", path: "/superuser", auth: []string{"Bearer " + good}, wantStatus: 403,
			wantChall: `Bearer error="insufficient_scope", error_description="insufficient scope"`},
		{name: "scope granted", path: "/write", auth: []string{"Bearer " + good}, wantStatus: 200},
		{name: "one scope missing", path: "/delete", auth: []string{"Bearer " + good}, wantStatus: 403,
			wantBody:  `"insufficient_scope"`,
			wantChall: `Bearer error="insufficient_scope", error_description="insufficient scope", scope="write delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://api.example"+tt.path, nil)
			for _, a := range tt.auth {
				r.Header.Add("Authorization", a)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Fatalf("body %q, want %q in it", w.Body, tt.wantBody)
			}
			got := w.Header().Get("WWW-Authenticate")
			switch tt.wantChall {
			case "":
			case "-":
				if got != "" {
					t.Fatalf("challenge %q on a success", got)
				}
			default:
				if got != tt.wantChall {
					t.Fatalf("WWW-Authenticate %q, want %q", got, tt.wantChall)
				}
			}
			if w.Code >= 400 {
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error_description"] == "" {
					t.Fatalf("error body %q is not the JSON error object", w.Body)
				}
				if len(tt.auth) > 0 && len(tt.auth[0]) > 20 && strings.Contains(w.Body.String()+got, tt.auth[0][7:]) {
					t.Fatal("the token was echoed")
				}
			}
		})
	}
}

func TestMiddlewareUnavailable(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	ks := newKeyServer(t, rsaA)
	ks.setDown(true)
	cfg := baseConfig(c)
	cfg.Keys = ks.set(t, c, nil)
	v := newVerifier(t, cfg)
	var logged error
	h := Middleware(v, MiddlewareConfig{Realm: "api", ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		logged = err
		WriteError(w, "api", err)
	}})(http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Authorization", "Bearer "+rsaA.sign(t, "at+jwt", claims()))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	// The key set retries within a second while it holds no usable set,
	// and Retry-After says so.
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q; want 503 and 1", w.Code, w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), "key source unavailable") {
		t.Fatalf("body %q", w.Body)
	}
	// The handler sees the precise reason, for its log.
	if logged == nil || !strings.Contains(logged.Error(), "503") {
		t.Fatalf("handler got %v", logged)
	}
	if strings.Contains(w.Body.String(), "503 Service") {
		t.Fatal("the precise reason leaked to the client")
	}
}

func TestChallengeQuoting(t *testing.T) {
	t.Parallel()
	got := challenge("my \"realm\"\\\n", "invalid_token", "token expired", "")
	want := `Bearer realm="my realm", error="invalid_token", error_description="token expired"`
	if got != want {
		t.Fatalf("challenge = %q, want %q", got, want)
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer ", "Bearer a=b", "Bearer ==", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", header)
		tok, err := BearerToken(r)
		if err == nil && (tok == "" || strings.ContainsAny(tok, " \t")) {
			t.Fatalf("BearerToken(%q) = %q", header, tok)
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing, for benchmarks.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkMiddleware measures what the middleware adds to a verification:
// a cached token, so that no signature is checked.
func BenchmarkMiddleware(b *testing.B) {
	rsaA := loadTestKey(b, "rsa-a.pem", jose.RS256)
	v := newVerifier(b, baseConfig(newClock(), rsaA))
	tok := rsaA.sign(b, "at+jwt", claims())
	h := Middleware(v, MiddlewareConfig{PublicPaths: []string{"/", "/healthz"}, PublicPrefixes: []string{"/static/"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, ok := ClaimsFrom(r.Context()); !ok || c.Subject == "" {
				b.Fatal("no claims")
			}
		}))
	r := httptest.NewRequest(http.MethodGet, "/protected", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
	b.Run("BearerToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := BearerToken(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	unavailable := func(d time.Duration) error {
		return fmt.Errorf("%w: %w", ErrKeySourceUnavailable, &jwks.UnavailableError{Reason: "down", RetryAfter: d})
	}
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{name: "no estimate", err: ErrKeySourceUnavailable, want: DefaultRetryAfter},
		{name: "attempt due now", err: unavailable(0), want: time.Second},
		{name: "fraction rounds up", err: unavailable(2300 * time.Millisecond), want: 3 * time.Second},
		{name: "whole seconds", err: unavailable(4 * time.Second), want: 4 * time.Second},
		{name: "just under a second", err: unavailable(time.Nanosecond), want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RetryAfter(tt.err); got != tt.want {
				t.Errorf("RetryAfter = %v, want %v", got, tt.want)
			}
			w := httptest.NewRecorder()
			WriteError(w, "api", tt.err)
			if got, want := w.Header().Get("Retry-After"), strconv.Itoa(int(tt.want/time.Second)); got != want {
				t.Errorf("Retry-After header %q, want %q", got, want)
			}
		})
	}
}

// TestWithClaimsContext: the context that carries the claims passes the
// parent's values and cancellation on, and the claims and token are found
// under contexts derived from it.
func TestWithClaimsContext(t *testing.T) {
	t.Parallel()
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(t.Context(), otherKey{}, "outer"))
	want := &jose.Claims{Subject: "alice"}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		own  bool
	}{
		{"given", WithClaims(parent, want, "tok"), false},
		{"own copy", withOwnClaims(parent, want, "tok"), true},
	} {
		derived := context.WithValue(tt.ctx, otherKey{}, "inner")
		for _, ctx := range []context.Context{tt.ctx, derived} {
			c, ok := ClaimsFrom(ctx)
			if !ok || c.Subject != "alice" || (c == want) == tt.own {
				t.Errorf("%s: ClaimsFrom = %v, %v; want alice (own copy %v)", tt.name, c, ok, tt.own)
			}
			if tok, ok := TokenFrom(ctx); !ok || tok != "tok" {
				t.Errorf("%s: TokenFrom = %q, %v; want tok", tt.name, tok, ok)
			}
		}
		if got := tt.ctx.Value(otherKey{}); got != "outer" {
			t.Errorf("%s: the parent's value = %v, want outer", tt.name, got)
		}
	}
	if _, ok := ClaimsFrom(parent); ok {
		t.Error("ClaimsFrom found claims in the parent")
	}
	ctx := WithClaims(parent, want, "tok")
	cancel()
	if ctx.Err() == nil {
		t.Error("cancel did not reach the derived context")
	}
}

// TestWithClaimsAllocations: the context that carries a request's claims is
// one allocation, the copy of the claims included; it is made for every
// verified request.
func TestWithClaimsAllocations(t *testing.T) {
	ctx := t.Context()
	c := &jose.Claims{Subject: "alice"}
	for _, tt := range []struct {
		name string
		with func(context.Context, *jose.Claims, string) context.Context
	}{
		{"WithClaims", WithClaims},
		{"own copy", withOwnClaims},
	} {
		var got context.Context // kept outside, as a request's is, so that it escapes
		if n := testing.AllocsPerRun(1000, func() { got = tt.with(ctx, c, "tok") }); n != 1 {
			t.Errorf("%s: %v allocations, want 1", tt.name, n)
		}
		if cl, ok := ClaimsFrom(got); !ok || cl.Subject != "alice" {
			t.Errorf("%s: the last context lost its claims", tt.name)
		}
	}
}
