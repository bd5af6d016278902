package issuer

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestValidateRedirectURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uri    string
		public bool
		ok     bool
	}{
		{"https://app.example.com/cb", false, true},
		{"https://app.example.com:8443/cb?x=1", false, true},
		{"HTTPS://app.example.com/cb", false, true},
		{"http://127.0.0.1/cb", true, true},
		{"http://127.0.0.1:51004/cb", true, true},
		{"http://127.8.9.10:1/cb", false, true},
		{"http://[::1]:8080/cb", true, true},
		{"com.example.app:/oauth2redirect/example-provider", true, true},
		{"com.example.app://callback", true, true},

		{"com.example.app:/cb", false, false},
		{"myapp:/cb", true, false},
		{"javascript:alert(1)", true, false},
		{"JavaScript:alert(document.cookie)//", false, false},
		{"data:text/html,<script>alert(1)</script>", true, false},
		{"file:///etc/passwd", true, false},
		{"http://app.example.com/cb", false, false},
		{"http://localhost:3000/cb", true, false},
		{"http://10.0.0.1/cb", false, false},
		{"http://127.0.0.1.attacker.example/cb", false, false},
		{"http://[::ffff:127.0.0.1]/cb", false, true},
		{"https://app.example.com/cb#frag", false, false},
		{"https://app.example.com/cb#", false, false},
		{"https://*.example.com/cb", false, false},
		{"https://app.example.com/*", false, false},
		{"https:///cb", false, false},
		{"https:cb", false, false},
		{"/cb", false, false},
		{"cb", false, false},
		{"", false, false},
		{"https://app.example.com/c b", false, false},
		{"https://app.example.com/cb\n", false, false},
	}
	for _, tt := range tests {
		err := ValidateRedirectURI(tt.uri, tt.public)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateRedirectURI(%q, public %v) = %v, want ok %v", tt.uri, tt.public, err, tt.ok)
		}
		if err != nil && keyward.ErrorCode(err) != keyward.EINVALID {
			t.Errorf("ValidateRedirectURI(%q): code %q, want %q", tt.uri, keyward.ErrorCode(err), keyward.EINVALID)
		}
	}
}

func TestValidateClient(t *testing.T) {
	t.Parallel()
	web := []string{"https://app.example.com/cb"}
	tests := []struct {
		name string
		c    keyward.Client
		ok   bool
	}{
		{"service", keyward.Client{GrantTypes: []string{GrantClientCredentials}}, true},
		{"web app", keyward.Client{GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, RedirectURIs: web}, true},
		{"native app", keyward.Client{Public: true, GrantTypes: []string{GrantAuthorizationCode},
			RedirectURIs: []string{"com.example.app:/cb", "http://127.0.0.1/cb"}}, true},
		{"no grant", keyward.Client{RedirectURIs: web}, false},
		{"unknown grant", keyward.Client{GrantTypes: []string{"password"}}, false},
		{"implicit", keyward.Client{GrantTypes: []string{"implicit"}, RedirectURIs: web}, false},
		{"repeated grant", keyward.Client{GrantTypes: []string{GrantClientCredentials, GrantClientCredentials}}, false},
		{"public client_credentials", keyward.Client{Public: true, GrantTypes: []string{GrantClientCredentials}}, false},
		{"code without redirect", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}}, false},
		{"bad redirect", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example.com/cb", "javascript:alert(1)"}}, false},
		{"confidential private-use", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"com.example.app:/cb"}}, false},
		{"post-logout", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: web,
			PostLogoutRedirectURIs: []string{"https://app.example.com/bye", "http://[::1]:8080/bye"}}, true},
		{"native post-logout", keyward.Client{Public: true, GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"com.example.app:/cb"},
			PostLogoutRedirectURIs: []string{"com.example.app:/bye"}}, true},
		{"post-logout javascript", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: web,
			PostLogoutRedirectURIs: []string{"javascript:alert(1)"}}, false},
		{"post-logout http", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: web,
			PostLogoutRedirectURIs: []string{"http://app.example.com/bye"}}, false},
		{"post-logout wildcard", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: web,
			PostLogoutRedirectURIs: []string{"https://*.example.com/bye"}}, false},
		{"post-logout fragment", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: web,
			PostLogoutRedirectURIs: []string{"https://app.example.com/bye#x"}}, false},
		{"confidential post-logout private-use", keyward.Client{GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: web,
			PostLogoutRedirectURIs: []string{"com.example.app:/bye"}}, false},
	}
	for _, tt := range tests {
		if err := ValidateClient(tt.c); (err == nil) != tt.ok {
			t.Errorf("%s: ValidateClient = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestAuthorizeRefusesUnsafeRedirect: a client registered before
// registration checked redirect URIs, with javascript: or http to another
// host, gets no redirect there: the request fails with ErrRedirectURI,
// which the server shows as a page.
func TestAuthorizeRefusesUnsafeRedirect(t *testing.T) {
	t.Parallel()
	f, _, _ := codeFixture(t, backends(t)[0], nil)
	bad := []string{"javascript:alert(document.domain)//", "http://attacker.example/cb", "https://*.example.com/cb"}
	if err := f.store.CreateClient(t.Context(), keyward.Client{ID: "legacy", GrantTypes: []string{GrantAuthorizationCode},
		RedirectURIs: append([]string{"https://app.example.com/cb"}, bad...)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.issuer.AuthorizeClient(t.Context(), "legacy", "https://app.example.com/cb"); err != nil {
		t.Fatalf("a sound redirect URI: %v", err)
	}
	for _, uri := range bad {
		if _, err := f.issuer.AuthorizeClient(t.Context(), "legacy", uri); !errors.Is(err, ErrRedirectURI) {
			t.Errorf("AuthorizeClient(%q) = %v, want ErrRedirectURI", uri, err)
		}
	}
}

// FuzzValidateRedirectURI holds ValidateRedirectURI to its contract: an
// accepted URI parses as absolute, has no fragment, no wildcard, and is
// https with a host, http to a loopback IP, or (public clients) a
// reverse-domain private-use scheme.
func FuzzValidateRedirectURI(f *testing.F) {
	for _, s := range []string{"https://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb",
		"com.example.app:/cb", "javascript:alert(1)", "http://localhost/cb", "https://a/#x", "https://*.a/cb", "HTTP://127.0.0.1/"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, uri string, public bool) {
		if ValidateRedirectURI(uri, public) != nil {
			return
		}
		u, err := url.Parse(uri)
		if err != nil || u.Scheme == "" || strings.ContainsAny(uri, "#* \t\r\n") {
			t.Fatalf("accepted %q", uri)
		}
		switch scheme := strings.ToLower(u.Scheme); {
		case scheme == "https":
			if u.Hostname() == "" {
				t.Fatalf("accepted https without a host: %q", uri)
			}
		case scheme == "http":
			if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
				t.Fatalf("accepted http to a non-loopback host: %q", uri)
			}
		case strings.Contains(scheme, "."):
			if !public {
				t.Fatalf("accepted a private-use scheme for a confidential client: %q", uri)
			}
		default:
			t.Fatalf("accepted scheme %q: %q", scheme, uri)
		}
	})
}
