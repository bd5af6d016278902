package issuer

import (
	"testing"
)

// TestExchangeCodeFamilyRevokedFirst plays the losing interleaving of two
// concurrent exchanges of one code: the second exchange's reuse detection
// revokes the code's refresh-token family before the first one stores the
// family's first token. The first exchange must then fail with
// invalid_grant, not server_error, and leave no refresh token behind.
func TestExchangeCodeFamilyRevokedFirst(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, _, c := codeFixture(t, b, nil)
			ctx := t.Context()
			_, sess, err := f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
			if err != nil {
				t.Fatal(err)
			}
			code := f.code(t, c, sess, "openid")
			if err := f.store.RevokeRefreshFamily(ctx, familyOfCode(hashToken(code)), f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := f.issuer.ExchangeCode(ctx, CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: "spa"})
			wantCode(t, err, CodeInvalidGrant)
			if resp != nil {
				t.Errorf("ExchangeCode() = %+v, want no tokens", resp)
			}
		})
	}
}
