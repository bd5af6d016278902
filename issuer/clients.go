package issuer

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// Grants returns the grant types a client may be given, in the order the
// documentation lists them.
func Grants() []string {
	return []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
}

// ValidateRedirectURI checks a redirect URI before it is registered for a
// client, public telling whether the client is public (a native or browser
// app). It accepts only an absolute URI without a fragment (RFC 6749
// §3.1.2) and without a wildcard, of one of these kinds:
//
//   - https, with a host;
//   - http to a loopback IP literal (127.0.0.0/8 or [::1]), any port, for
//     native apps and development (RFC 8252 §7.3; "localhost" is refused,
//     as §8.3 advises, since its name may resolve elsewhere);
//   - for a public client only, a private-use scheme named after a domain
//     the app's publisher controls, in reverse order, such as
//     com.example.app:/oauth2redirect (RFC 8252 §7.1).
//
// Anything else — javascript:, data:, http to another host, a scheme that
// is no reverse domain name — is refused: /authorize redirects the browser,
// with a code, to whatever is registered. Its errors carry
// [keyward.EINVALID].
func ValidateRedirectURI(uri string, public bool) error {
	bad := func(why string) error {
		return keyward.Errorf(keyward.EINVALID, "redirect URI %q: %s", truncate(uri), why)
	}
	if strings.Contains(uri, "#") {
		return bad("a redirect URI has no fragment (RFC 6749 §3.1.2)")
	}
	if strings.Contains(uri, "*") {
		return bad("wildcards are not allowed: redirect URIs are matched exactly")
	}
	if strings.ContainsFunc(uri, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad("spaces and control characters are not allowed")
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return bad("want an absolute URI")
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" || u.Hostname() == "" {
			return bad("an https redirect URI needs a host")
		}
	case scheme == "http":
		ip := net.ParseIP(u.Hostname())
		if ip == nil || !ip.IsLoopback() {
			return bad("http is allowed only to a loopback address such as 127.0.0.1 or [::1] (RFC 8252 §7.3); use https")
		}
	case strings.Contains(scheme, "."):
		if !public {
			return bad("a private-use scheme is for native apps, which are public clients (RFC 8252 §7.1)")
		}
	default:
		return bad("want https, http to a loopback address, or a reverse-domain private-use scheme such as com.example.app:/callback")
	}
	return nil
}

// ValidateClient checks a client before it is registered: its grant types
// are known and not repeated, a public client has no client_credentials
// grant, the authorization_code grant comes with at least one redirect URI,
// and every redirect URI and post-logout redirect URI passes
// [ValidateRedirectURI] (so /logout never sends the browser where
// /authorize would not), and the back-channel logout URI, if any, passes
// [ValidateBackchannelLogoutURI]. Its errors carry
// [keyward.EINVALID].
func ValidateClient(c keyward.Client) error {
	if len(c.GrantTypes) == 0 {
		return keyward.Errorf(keyward.EINVALID, "client %q has no grant type", truncate(c.Name))
	}
	for n, g := range c.GrantTypes {
		if !slices.Contains(Grants(), g) {
			return keyward.Errorf(keyward.EINVALID, "grant type %q: want one of %s", truncate(g), strings.Join(Grants(), ", "))
		}
		if slices.Contains(c.GrantTypes[:n], g) {
			return keyward.Errorf(keyward.EINVALID, "grant type %q given twice", g)
		}
	}
	if c.Public && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return keyward.Errorf(keyward.EINVALID, "the client_credentials grant needs a confidential client")
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return keyward.Errorf(keyward.EINVALID, "the authorization_code grant needs at least one redirect URI")
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u, c.Public); err != nil {
			return err
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u, c.Public); err != nil {
			return keyward.Errorf(keyward.EINVALID, "post-logout %s", err.Error())
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := ValidateBackchannelLogoutURI(c.BackchannelLogoutURI); err != nil {
			return err
		}
	}
	return nil
}

// errRedirectURIRefused wraps [ErrRedirectURI] with why a registered
// redirect URI is no longer accepted.
func errRedirectURIRefused(err error) error {
	return fmt.Errorf("%w: %w", ErrRedirectURI, err)
}
