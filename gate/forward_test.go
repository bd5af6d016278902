package gate

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/jose"
)

// joinedScopes is how the gate always built X-Auth-Scope: the scopes
// ("scope", else "scp") as jose.Claims.Strings gives them, joined by
// single spaces. scopeHeader must give the same, faster.
func joinedScopes(c *jose.Claims) (string, bool) {
	scopes := c.Strings("scope")
	if len(scopes) == 0 {
		scopes = c.Strings("scp")
	}
	return strings.Join(scopes, " "), len(scopes) > 0
}

func TestScopeHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra map[string]any
		want  string
		ok    bool
	}{
		{"none", nil, "", false},
		{"one", map[string]any{"scope": "read"}, "read", true},
		{"two", map[string]any{"scope": "read write"}, "read write", true},
		{"double space", map[string]any{"scope": "read  write"}, "read write", true},
		{"tab", map[string]any{"scope": "read\twrite"}, "read write", true},
		{"leading", map[string]any{"scope": " read"}, "read", true},
		{"trailing", map[string]any{"scope": "read "}, "read", true},
		{"unicode space", map[string]any{"scope": "read\u00a0write"}, "read write", true},
		{"empty scope, scp", map[string]any{"scope": "", "scp": []any{"a", "b"}}, "a b", true},
		{"blank scope, scp", map[string]any{"scope": "   ", "scp": "a b"}, "a b", true},
		{"array", map[string]any{"scope": []any{"a", 7, "b"}}, "a b", true},
		{"array of one empty", map[string]any{"scp": []any{""}}, "", true},
		{"not a string", map[string]any{"scope": 7}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &jose.Claims{Extra: tt.extra}
			got, ok := scopeHeader(c)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("scopeHeader = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
			if ref, refOK := joinedScopes(c); got != ref || ok != refOK {
				t.Fatalf("scopeHeader = %q, %v; Strings and Join give %q, %v", got, ok, ref, refOK)
			}
		})
	}
}

// FuzzScopeHeader: for any "scope" string, the fast path gives what
// splitting and joining gives.
func FuzzScopeHeader(f *testing.F) {
	for _, s := range []string{"", "a", "read write", " a", "a ", "a  b", "a\tb", "a\u0085b", "a\u00a0b", "\xff", "a\u3000b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := &jose.Claims{Extra: map[string]any{"scope": s, "scp": "fallback"}}
		got, ok := scopeHeader(c)
		ref, refOK := joinedScopes(c)
		if got != ref || ok != refOK {
			t.Fatalf("scope %q: scopeHeader = %q, %v; Strings and Join give %q, %v", s, got, ok, ref, refOK)
		}
	})
}

// TestSetForwardHeaders: the identity headers as the upstream reads them,
// with control characters dropped and the claims encoded again when no
// payload is given.
func TestSetForwardHeaders(t *testing.T) {
	t.Parallel()
	c := &jose.Claims{Subject: "user\r\n-42", Extra: map[string]any{"scope": "read write"}}
	h := http.Header{"Accept": {"*/*"}}
	setForwardHeaders(h, "req-1", c, "")
	if h.Get("X-Request-Id") != "req-1" || h.Get(HeaderSubject) != "user-42" || h.Get(HeaderScope) != "read write" || h.Get(HeaderClaims) == "" {
		t.Fatalf("%v", h)
	}
	h = http.Header{}
	setForwardHeaders(h, "req-2", nil, "")
	if len(h) != 1 || h.Get("X-Request-Id") != "req-2" {
		t.Fatalf("anonymous request: %v", h)
	}
	h = http.Header{}
	setForwardHeaders(h, "req-3", &jose.Claims{}, "e30")
	if len(h) != 2 || h.Get(HeaderClaims) != "e30" {
		t.Fatalf("no subject, no scope: %v", h)
	}
}

// TestProxyLargeBodies: bodies larger than a copy buffer, and shorter ones
// after them, arrive whole and unmixed through the pooled buffers.
func TestProxyLargeBodies(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		io.WriteString(w, strings.Repeat(r.URL.Query().Get("c"), n))
	}))
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	gw, _ := startGate(t, jwksServer(t, key).URL+"/jwks.json", upURL)
	token := key.token(t, nil)
	for i, tt := range []struct {
		c string
		n int
	}{{"a", 100 << 10}, {"b", 10}, {"c", copyBufferSize + 1}, {"d", 0}, {"e", 3 * copyBufferSize}} {
		resp, body := get(t, gw.URL+"/?c="+tt.c+"&n="+strconv.Itoa(tt.n), token, nil)
		if resp.StatusCode != 200 || body != strings.Repeat(tt.c, tt.n) {
			t.Fatalf("request %d: %d, %d bytes, want %d of %q", i, resp.StatusCode, len(body), tt.n, tt.c)
		}
	}
}

// FuzzHeaderSafe: headerSafe finds control characters byte by byte as
// strings.IndexFunc finds them rune by rune, in valid UTF-8 or not, and
// drops them as strings.Map does.
func FuzzHeaderSafe(f *testing.F) {
	for _, s := range []string{"", "user-42", "a\r\nb", "\x7f", "é\x01", "\xff\x00", "\xe8\xaa\x1f", "語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hasControlByte(s), strings.IndexFunc(s, isControl) >= 0; got != want {
			t.Fatalf("%q: hasControlByte = %v, IndexFunc finds one: %v", s, got, want)
		}
		want := s
		if strings.IndexFunc(s, isControl) >= 0 {
			want = strings.Map(func(r rune) rune {
				if isControl(r) {
					return -1
				}
				return r
			}, s)
		}
		if got := headerSafe(s); got != want {
			t.Fatalf("headerSafe(%q) = %q, want %q", s, got, want)
		}
	})
}
