package issuer

import (
	"errors"
	"testing"
)

// TestUserInfoProof: the proof of a /userinfo request is checked only for
// a token that verified and is bound, and against the key it is bound to;
// the checker's refusal is returned as it is.
func TestUserInfoProof(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, sess, cs := dpopFixture(t, b)
			ok := tokenOK(t)
			web := cs["web"]
			bound := ok(f.exchange(t, web, f.code(t, web, sess, "openid"), jktA))
			plain := ok(f.exchange(t, web, f.code(t, web, sess, "openid"), ""))
			refused := &Error{Code: CodeInvalidDPoPProof, Description: "refused by the checker"}
			tests := []struct {
				name     string
				token    string
				proveErr error
				want     string // error code, empty for success
				proved   bool   // prove must be called, with jktA
			}{
				{name: "bound token, proof holds", token: bound.AccessToken, proved: true},
				{name: "bound token, proof refused", token: bound.AccessToken, proveErr: refused, want: CodeInvalidDPoPProof, proved: true},
				{name: "token that does not verify", token: "not-a-token", want: CodeInvalidToken},
				{name: "token not bound", token: plain.AccessToken, want: CodeInvalidToken},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					called := ""
					info, err := f.issuer.UserInfoProof(t.Context(), tt.token, func(jkt string) error {
						called = jkt
						return tt.proveErr
					})
					if (called != "") != tt.proved || (tt.proved && called != jktA) {
						t.Errorf("prove called with %q, want called %v with %q", called, tt.proved, jktA)
					}
					if tt.proveErr != nil && !errors.Is(err, tt.proveErr) {
						t.Errorf("error %v, want the checker's %v", err, tt.proveErr)
					}
					if tt.want != "" {
						wantCode(t, err, tt.want)
						return
					}
					if err != nil || info["sub"] == nil {
						t.Fatalf("UserInfoProof = %v, %v", info, err)
					}
				})
			}
		})
	}
}
