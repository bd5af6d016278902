package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/issuer"
)

// newDPoPChecker returns the checker of the DPoP proofs (RFC 9449) sent to
// /token and /userinfo: the defaults of package dpop (its algorithms, a 60 s
// window, a replay cache bounded by it), the server's clock, and the server
// nonces of cfg.DPoPNonces when set.
func newDPoPChecker(cfg Config) (*dpop.Checker, error) {
	return dpop.NewChecker(dpop.Config{Now: cfg.Now, Nonces: cfg.DPoPNonces})
}

// dpopAlgorithms returns the names of the proof algorithms the server
// accepts, for dpop_signing_alg_values_supported (RFC 9449 §5.1) and the
// algs of a DPoP challenge (§7.1).
func (s *Server) dpopAlgorithms() []string {
	algs := s.dpop.Algorithms()
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}

// dpopEndpoints are the public URLs of the endpoints that take DPoP
// proofs: the issuer URL and the path. A proof's htu must name them,
// whatever URL a proxy in front of the server rewrote the request to.
type dpopEndpoints struct {
	token, userinfo *url.URL
}

// newDPoPEndpoints returns the endpoints of the issuer whose URL is iss.
func newDPoPEndpoints(iss string) (dpopEndpoints, error) {
	var e dpopEndpoints
	base := strings.TrimSuffix(iss, "/")
	for _, ep := range []struct {
		dst  **url.URL
		path string
	}{{&e.token, "/token"}, {&e.userinfo, "/userinfo"}} {
		u, err := url.Parse(base + ep.path)
		if err != nil {
			return e, fmt.Errorf("the issuer URL: %w", err)
		}
		if _, err := dpop.NormalizeURL(u); err != nil {
			return e, fmt.Errorf("the issuer URL %q cannot be a DPoP htu: %w", iss, err)
		}
		*ep.dst = u
	}
	return e, nil
}

// setDPoPNonce sets the DPoP-Nonce response header to the current server
// nonce when nonces are on (RFC 9449 §8): every answer of /token and
// /userinfo carries it, so that a client always holds a fresh one.
func (s *Server) setDPoPNonce(w http.ResponseWriter) {
	if n := s.dpop.Nonces(); n != nil {
		w.Header().Set(dpop.NonceHeader, n.Current())
	}
}

// tokenProof checks the DPoP proof of a token request, if it carries one,
// and returns it, or nil for a request without a proof (RFC 9449 §5). The
// proof must be for POST to the token endpoint's public URL, without ath.
// It is not recorded yet: the caller records it with [Server.recordProof]
// once the grant has been granted, so that requests without a valid grant
// never fill the replay cache. The errors are the OAuth answers of RFC
// 9449: invalid_dpop_proof for a bad proof or two DPoP headers;
// use_dpop_nonce (with the DPoP-Nonce header) when nonces are on and the
// proof's nonce is missing or stale.
func (s *Server) tokenProof(r *http.Request) (*dpop.Proof, error) {
	if len(r.Header.Values(dpop.Header)) == 0 {
		return nil, nil
	}
	proof, err := dpop.FromRequest(r)
	if err == nil {
		var p *dpop.Proof
		if p, err = s.dpop.Verify(proof, http.MethodPost, s.dpopURLs.token, ""); err == nil {
			return p, nil
		}
	}
	return nil, proofError(err)
}

// recordProof records the proof of a granted token request (nil: none)
// against replay, before its tokens are sent: invalid_dpop_proof when it
// was used before, temporarily_unavailable when the replay cache is full
// of proofs still inside the window. The tokens of a refused request are
// never sent.
func (s *Server) recordProof(p *dpop.Proof) error {
	if p == nil {
		return nil
	}
	if err := s.dpop.Record(p); err != nil {
		return proofError(err)
	}
	return nil
}

// proofJKT returns the thumbprint of the key of p, or "" for none.
func proofJKT(p *dpop.Proof) string {
	if p == nil {
		return ""
	}
	return p.JKT
}

// proofError maps an error of [dpop.Checker.Check] to the issuer's OAuth
// error, the cause kept for the log only.
func proofError(err error) error {
	var qe *dpop.KeyQuotaError
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return &issuer.Error{Code: issuer.CodeUseDPoPNonce, Description: "the DPoP proof must carry the server nonce of the DPoP-Nonce header", Err: err}
	case errors.Is(err, dpop.ErrReplayCacheFull):
		return &issuer.Error{Code: issuer.CodeTemporarilyUnavailable, Description: "too many DPoP proofs at once; retry later", Err: err}
	case errors.As(err, &qe):
		return &issuer.Error{Code: issuer.CodeSlowDown, Description: "too many DPoP proofs of one key; retry later", RetryAfter: qe.RetryAfter, Err: err}
	case errors.Is(err, dpop.ErrReplay):
		return &issuer.Error{Code: issuer.CodeInvalidDPoPProof, Description: "the DPoP proof was used before", Err: err}
	default:
		return &issuer.Error{Code: issuer.CodeInvalidDPoPProof, Description: "the DPoP proof is invalid", Err: err}
	}
}

// userinfoToken reads the access token of a /userinfo request: the token
// ("" when the request carries none in a scheme the endpoint knows) and
// whether it came with the DPoP scheme (RFC 9449 §7.1), whose proof
// [Server.userinfoProof] checks once the token has verified.
func (s *Server) userinfoToken(r *http.Request) (token string, usedDPoP bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	switch {
	case !found || token == "":
		return "", false
	case strings.EqualFold(scheme, "Bearer"):
		return token, false
	case !strings.EqualFold(scheme, dpop.Scheme):
		return "", false
	}
	return token, true
}

// userinfoProof checks the proof of a /userinfo request whose verified
// access token, sent with the DPoP scheme, is bound to the key whose
// thumbprint is jkt: for the request's method, the endpoint's public URL,
// with the ath of the token, and signed by that key, which is checked
// before the proof is recorded. The error is the proof's refusal, from
// [proofError].
func (s *Server) userinfoProof(r *http.Request, token, jkt string) error {
	proof, err := dpop.FromRequest(r)
	if err == nil {
		if _, err = s.dpop.CheckBound(proof, r.Method, s.dpopURLs.userinfo, token, jkt); err == nil {
			return nil
		}
	}
	if errors.Is(err, dpop.ErrKeyMismatch) {
		return &issuer.Error{Code: issuer.CodeInvalidDPoPProof, Description: "the DPoP proof is not signed by the key the access token is bound to", Err: err}
	}
	return proofError(err)
}

// challenge sets the WWW-Authenticate header of a 401 or 403 of /userinfo:
// a Bearer and a DPoP challenge (RFC 6750 §3, RFC 9449 §7.1), the error and
// the extra parameters in the one of the scheme the request used (dpopUsed),
// the DPoP one naming the proof algorithms accepted.
func (s *Server) challenge(w http.ResponseWriter, dpopUsed bool, errCode, extra string) {
	params := ""
	if errCode != "" {
		params = `, error="` + errCode + `"` + extra
	}
	bearer, dp := `Bearer realm="keyward"`, `DPoP realm="keyward", algs="`+strings.Join(s.dpopAlgorithms(), " ")+`"`
	if dpopUsed {
		dp += params
	} else {
		bearer += params
	}
	w.Header().Set("WWW-Authenticate", bearer)
	w.Header().Add("WWW-Authenticate", dp)
}
