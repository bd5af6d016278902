package jwks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
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
	synctest.Test(t, func(t *testing.T) {
		src := newSource(t, faultSlow, "", testKey(t, "k1"))
		start := time.Now()
		const timeout = 200 * time.Millisecond
		_, err := fetch(t.Context(), src.client(), sourceURL, fetchOptions{timeout: timeout})
		if err == nil || !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "no answer within") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != timeout {
			t.Fatalf("took %v, want %v", d, timeout)
		}
	})
}

// redirector answers every request for its "from" URLs with a redirect to
// "to", and serves a key set anywhere else.
type redirector struct {
	to   string
	body []byte
}

func (rd redirector) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: r, Body: io.NopCloser(bytes.NewReader(rd.body))}
	if r.URL.String() == sourceURL {
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", rd.to)
		resp.Body = http.NoBody
		return resp, nil
	}
	resp.Header.Set("Content-Type", "application/json")
	return resp, nil
}

// followAll is a RoundTripper that follows redirects itself, as some
// proxies' transports do.
type followAll struct{ rt http.RoundTripper }

func (f followAll) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.rt.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusFound {
		return resp, err
	}
	u, err := r.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	next := r.Clone(r.Context())
	next.URL = u
	return f.rt.RoundTrip(next)
}

func TestFetchRedirects(t *testing.T) {
	t.Parallel()
	body := setJSON(t, testKey(t, "k1"))
	tests := []struct {
		name   string
		to     string
		client func(http.RoundTripper) *http.Client
		ok     bool
	}{
		{"same host, NewClient", "https://issuer.test/keys", newClientWith, true},
		{"https to http, NewClient", "http://issuer.test/jwks.json", newClientWith, false},
		{"other host, NewClient", "https://elsewhere.test/jwks.json", newClientWith, false},
		{"other port, NewClient", "https://issuer.test:8443/jwks.json", newClientWith, false},
		{"same host, own client", "https://issuer.test/keys", ownClient, true},
		{"https to http, own client", "http://issuer.test/jwks.json", ownClient, false},
		{"other host, own client", "https://elsewhere.test/jwks.json", ownClient, false},
		{"https to http, transport follows", "http://issuer.test/jwks.json", func(rt http.RoundTripper) *http.Client {
			return &http.Client{Transport: followAll{rt}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := tt.client(redirector{to: tt.to, body: body})
			_, err := Fetch(t.Context(), client, sourceURL)
			if tt.ok != (err == nil) {
				t.Fatalf("redirect to %s: err = %v", tt.to, err)
			}
			if err != nil && !errors.Is(err, ErrFetch) {
				t.Fatalf("err = %v, want ErrFetch", err)
			}
		})
	}
}

// newClientWith is NewClient on another transport.
func newClientWith(rt http.RoundTripper) *http.Client {
	c := NewClient()
	c.Transport = rt
	return c
}

// ownClient is a caller's client that follows every redirect.
func ownClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
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

// FuzzCacheControl checks that any Cache-Control header yields a lifetime
// within bounds and no panic.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{"public, max-age=600", `max-age="30"`, "no-cache", "max-age=abc", "",
		"MAX-AGE=5, must-revalidate", "max-age=99999999999999999999", "max-age=-1", "no-store,max-age=60",
		"max-age=1, max-age=2", ",,=,", `max-age="`, "max-age = 10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h := http.Header{}
		h.Add("Cache-Control", in)
		d, ok, _ := cacheControl(h)
		if d < 0 || d > (1<<31)*time.Second || (!ok && d != 0) {
			t.Fatalf("cacheControl(%q) = %v, %v", in, d, ok)
		}
	})
}
