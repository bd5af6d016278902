// Package server holds the tests of package github.com/keyward/keyward/server
// that drive it through the client libraries and the browser a relying
// party uses: golang.org/x/oauth2 and coreos/go-oidc run the code flow with
// PKCE, single sign-on, userinfo, refresh, revocation and logout, and verify
// ID tokens of every configured algorithm across a key rotation; chromedp
// signs in through the login page in headless Chromium. Those libraries are
// required by this test module only, never by the main module.
//
// The package has no non-test code.
package server
