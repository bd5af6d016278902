package verifier

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/jose"
)

func TestRequirementsCheck(t *testing.T) {
	t.Parallel()
	ti := newTwoIssuers(t, 0)
	mk := func(extra map[string]any) *jose.Claims {
		c := claims()
		c.Extra = extra
		return c
	}
	base := mk(map[string]any{"scope": "read:orders  write:orders", "roles": []any{"admin", 7}, "tenant": "acme", "groups": []any{"a", "b"}})
	scp := mk(map[string]any{"scp": []any{"read:orders"}, "role": "clerk"})
	legacy := legacyClaims()
	tests := []struct {
		name   string
		reqs   []Requirement
		claims *jose.Claims
		want   error  // nil, ErrIssuerNotAllowed or ErrInsufficientScope
		scope  string // the ScopeError's Scope
	}{
		{"none", nil, base, nil, ""},
		{"all scopes", []Requirement{AllScopes("read:orders", "write:orders")}, base, nil, ""},
		{"all scopes missing one", []Requirement{AllScopes("read:orders", "delete:orders")}, base, ErrInsufficientScope, "read:orders delete:orders"},
		{"any scope", []Requirement{AnyScope("delete:orders", "write:orders")}, base, nil, ""},
		{"any scope none", []Requirement{AnyScope("delete:orders", "admin")}, base, ErrInsufficientScope, "delete:orders admin"},
		{"scp array", []Requirement{AllScopes("read:orders")}, scp, nil, ""},
		{"scope prefix is not a scope", []Requirement{AnyScope("read")}, base, ErrInsufficientScope, "read"},
		{"any role", []Requirement{AnyRole("clerk", "admin")}, base, nil, ""},
		{"role string", []Requirement{AnyRole("clerk")}, scp, nil, ""},
		{"all roles", []Requirement{AllRoles("admin", "clerk")}, base, ErrInsufficientScope, ""},
		{"claim any", []Requirement{ClaimAny("tenant", "acme", "globex")}, base, nil, ""},
		{"claim all array", []Requirement{ClaimAll("groups", "a", "b")}, base, nil, ""},
		{"claim all missing", []Requirement{ClaimAll("groups", "a", "c")}, base, ErrInsufficientScope, ""},
		{"claim absent", []Requirement{ClaimAny("tenant", "acme")}, scp, ErrInsufficientScope, ""},
		{"claim sub", []Requirement{ClaimAny("sub", "user-1")}, base, nil, ""},
		{"issuer", []Requirement{FromIssuer("keyward")}, base, nil, ""},
		{"issuer other", []Requirement{FromIssuer("legacy")}, base, ErrIssuerNotAllowed, ""},
		{"issuer legacy", []Requirement{FromIssuer("keyward", "legacy")}, legacy, nil, ""},
		// The issuer is checked first: a token from another issuer is
		// 401 even when it also lacks the scope.
		{"issuer before scope", []Requirement{AllScopes("nope"), FromIssuer("legacy")}, base, ErrIssuerNotAllowed, ""},
		{"mixed", []Requirement{AnyScope("write:orders"), AnyRole("admin"), ClaimAny("tenant", "acme")}, base, nil, ""},
		{"mixed one fails", []Requirement{AnyScope("write:orders"), AnyRole("root")}, base, ErrInsufficientScope, "write:orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ti.v.Requirements(tt.reqs...)
			if err != nil {
				t.Fatal(err)
			}
			err = rs.Check(tt.claims)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if got := requiredScope(err); got != tt.scope {
				t.Errorf("scope = %q, want %q", got, tt.scope)
			}
		})
	}
}

func TestRequirementsInvalid(t *testing.T) {
	t.Parallel()
	ti := newTwoIssuers(t, 0)
	single := newVerifier(t, baseConfig(newClock(), ti.a))
	tests := []struct {
		name string
		v    *Verifier
		reqs []Requirement
	}{
		{"zero", ti.v, []Requirement{{}}},
		{"no values", ti.v, []Requirement{AnyScope()}},
		{"empty value", ti.v, []Requirement{AllRoles("")}},
		{"claim without name", ti.v, []Requirement{ClaimAny("", "x")}},
		{"unknown issuer", ti.v, []Requirement{FromIssuer("nobody")}},
		{"issuer on single", single, []Requirement{FromIssuer("keyward")}},
		{"scope with quote", ti.v, []Requirement{AnyScope(`a"b`)}},
	}
	for _, tt := range tests {
		if _, err := tt.v.Requirements(tt.reqs...); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Require with an unknown issuer did not panic")
		}
	}()
	ti.v.Require(FromIssuer("nobody"))
}

func TestRequireMiddleware(t *testing.T) {
	t.Parallel()
	ti := newTwoIssuers(t, 0)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux := http.NewServeMux()
	mux.Handle("GET /orders", ti.v.Require(AnyScope("read:orders", "read"))(ok))
	mux.Handle("POST /orders", ti.v.Require(AllScopes("write:orders"), FromIssuer("keyward"))(ok))
	h := Middleware(ti.v, MiddlewareConfig{Realm: "orders"})(mux)
	kw := ti.a.sign(t, TypeAccessToken, claims()) // scope "read write"
	lg := ti.b.sign(t, TypeJWT, legacyClaims())
	tests := []struct {
		method, token string
		status        int
		challenge     string
	}{
		{"GET", kw, http.StatusNoContent, ""},
		{"GET", lg, http.StatusNoContent, ""},
		{"POST", kw, http.StatusForbidden, `Bearer error="insufficient_scope", error_description="insufficient scope", scope="write:orders"`},
		{"POST", lg, http.StatusUnauthorized, `Bearer error="invalid_token", error_description="issuer not accepted"`},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+tt.token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.method, w.Code, tt.status)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
			t.Errorf("%s: challenge %q, want %q", tt.method, got, tt.challenge)
		}
	}
	// Without the verifying middleware in front, nothing passes.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("unverified request: status %d", w.Code)
	}
}

func FuzzHasField(f *testing.F) {
	f.Add("read write", "write")
	f.Add(" a\t\u00a0b ", "b")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, s, want string) {
		got := hasField(s, want)
		c := &jose.Claims{Extra: map[string]any{"scope": s}}
		exp := false
		for _, f := range c.Strings("scope") {
			if f == want {
				exp = true
			}
		}
		if got != exp {
			t.Fatalf("hasField(%q, %q) = %v, want %v", s, want, got, exp)
		}
	})
}
