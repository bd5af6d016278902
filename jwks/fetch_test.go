package jwks

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFetch(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	good := setJSON(t, k1, k2)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string // substring; empty means success
		wantIDs int
	}{
		{name: "ok", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write(good)
		}, wantIDs: 2},
		{name: "no content type", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.Write(good)
		}, wantIDs: 2},
		{name: "500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, wantErr: "status 500"},
		{name: "html", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>login</html>"))
		}, wantErr: "not JSON"},
		{name: "garbage json", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"keys":[{"kty":"RSA"`))
		}, wantErr: "malformed"},
		{name: "empty set", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"keys":[]}`))
		}, wantErr: "empty"},
		{name: "only enc keys", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(strings.Replace(string(setJSON(t, k1)), `"use":"sig"`, `"use":"enc"`, 1)))
		}, wantErr: "no usable key"},
		{name: "too large declared", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", fmt.Sprint(10<<20))
			w.Write(make([]byte, 10<<20))
		}, wantErr: "limit"},
		{name: "too large chunked", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			chunk := make([]byte, 64<<10)
			for range 160 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}, wantErr: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is := newIssuer(t, tt.handler)
			set, err := Fetch(t.Context(), is.srv.Client(), is.url())
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrFetch with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != tt.wantIDs {
				t.Fatalf("got %d keys, want %d", len(set.Keys), tt.wantIDs)
			}
		})
	}
}

func TestFetchSkippedKeysVisible(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	body := `{"keys":[` + string(setJSON(t, k1))[9:len(setJSON(t, k1))-2] + `,` +
		strings.Replace(string(setJSON(t, k2))[9:len(setJSON(t, k2))-2], `"use":"sig"`, `"use":"enc"`, 1) +
		`,{"kty":"XYZ","kid":"odd"}]}`
	is := newIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	})
	set, err := Fetch(t.Context(), is.srv.Client(), is.url())
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || len(set.Skipped) != 2 {
		t.Fatalf("keys %d skipped %+v", len(set.Keys), set.Skipped)
	}
	if set.Skipped[1].KeyID != "odd" || !strings.Contains(set.Skipped[1].Reason, "XYZ") {
		t.Fatalf("skipped %+v", set.Skipped[1])
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	is := newIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	start := time.Now()
	_, err := fetch(t.Context(), is.srv.Client(), is.url(), fetchOptions{timeout: 200 * time.Millisecond})
	if err == nil || !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string // issuer path
		oidc     func(iss string) (int, string)
		oauth    func(iss string) (int, string)
		wantErr  string
		wantJWKS string
	}{
		{
			name:     "openid configuration",
			oidc:     func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `","jwks_uri":"` + iss + `/keys"}` },
			wantJWKS: "/keys",
		},
		{
			name:     "falls back to RFC 8414",
			oidc:     func(iss string) (int, string) { return 404, `{}` },
			oauth:    func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `","jwks_uri":"` + iss + `/k2"}` },
			wantJWKS: "/k2",
		},
		{
			name:     "RFC 8414 with a path",
			path:     "/tenant/a",
			oidc:     func(iss string) (int, string) { return 404, `{}` },
			oauth:    func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `","jwks_uri":"` + iss + `/k3"}` },
			wantJWKS: "/tenant/a/k3",
		},
		{
			name:    "issuer mismatch",
			oidc:    func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `/","jwks_uri":"` + iss + `/keys"}` },
			oauth:   func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `","jwks_uri":"` + iss + `/keys"}` },
			wantErr: "want exactly",
		},
		{
			name:    "no jwks_uri",
			oidc:    func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `"}` },
			wantErr: "no \"jwks_uri\"",
		},
		{
			name:    "relative jwks_uri",
			oidc:    func(iss string) (int, string) { return 200, `{"issuer":"` + iss + `","jwks_uri":"/keys"}` },
			wantErr: "not an absolute",
		},
		{
			name: "duplicate member",
			oidc: func(iss string) (int, string) {
				return 200, `{"issuer":"` + iss + `","issuer":"x","jwks_uri":"` + iss + `/keys"}`
			},
			wantErr: "not a valid JSON",
		},
		{
			name:    "neither document",
			wantErr: "no metadata",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var iss string
			is := newIssuer(t, func(w http.ResponseWriter, r *http.Request) {
				var h func(string) (int, string)
				switch r.URL.Path {
				case tt.path + oidcWellKnown:
					h = tt.oidc
				case oauthWellKnown + tt.path:
					h = tt.oauth
				}
				if h == nil {
					http.NotFound(w, r)
					return
				}
				code, body := h(iss)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				w.Write([]byte(body))
			})
			iss = is.srv.URL + tt.path
			got, err := Discover(t.Context(), is.srv.Client(), iss)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrDiscovery with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != is.srv.URL+tt.wantJWKS {
				t.Fatalf("jwks_uri = %q, want %q", got, is.srv.URL+tt.wantJWKS)
			}
		})
	}
}

func TestCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		ok      bool
		noStore bool
	}{
		{"public, max-age=600", 10 * time.Minute, true, false},
		{"max-age=\"30\"", 30 * time.Second, true, false},
		{"no-cache", 0, false, true},
		{"max-age=abc", 0, false, false},
		{"", 0, false, false},
		{"MAX-AGE=5, must-revalidate", 5 * time.Second, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.in != "" {
				h.Set("Cache-Control", tt.in)
			}
			got, ok, ns := cacheControl(h)
			if got != tt.want || ok != tt.ok || ns != tt.noStore {
				t.Fatalf("cacheControl(%q) = %v %v %v", tt.in, got, ok, ns)
			}
		})
	}
}
