package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keyward/issuer"
)

// userinfo handles GET and POST /userinfo (OIDC Core §5.3) with an access
// token in the Authorization header: a bearer token (RFC 6750 §2.1), or a
// DPoP-bound one with the DPoP scheme and a proof (RFC 9449 §7.1). A bound
// token presented as a bearer token is refused.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s.setDPoPNonce(w)
	token, usedDPoP := s.userinfoToken(r)
	if token == "" {
		s.challenge(w, false, "", "")
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "invalid_request", Description: "an access token is required (Bearer, or DPoP with a proof)"})
		return nil
	}
	var claims map[string]any
	var err error
	if usedDPoP {
		claims, err = s.iss.UserInfoProof(r.Context(), token, func(jkt string) error { return s.userinfoProof(r, token, jkt) })
	} else {
		claims, err = s.iss.UserInfoDPoP(r.Context(), token, "")
	}
	var oe *issuer.Error
	switch {
	case err == nil:
	case errors.As(err, &oe) && (oe.Code == issuer.CodeInvalidToken || oe.Code == issuer.CodeInvalidDPoPProof || oe.Code == issuer.CodeUseDPoPNonce):
		s.challenge(w, usedDPoP || oe.Code != issuer.CodeInvalidToken, oe.Code, "")
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: oe.Code, Description: oe.Description})
		return nil
	case errors.As(err, &oe) && oe.Code == issuer.CodeInsufficientScope:
		s.challenge(w, usedDPoP, oe.Code, `, scope="openid"`)
		writeJSON(w, http.StatusForbidden, errorBody{Error: oe.Code, Description: oe.Description})
		return nil
	default:
		return err
	}
	writeJSON(w, http.StatusOK, claims)
	return nil
}

// authenticateAssertion authenticates the client of a request carrying a
// client assertion (RFC 7523 §2.2), which must be its only credentials. The
// assertion's aud may be the issuer, the token endpoint or the endpoint
// called.
func (s *Server) authenticateAssertion(r *http.Request, f form) (clientAuth, error) {
	if _, _, basic := r.BasicAuth(); basic || f["client_secret"] != "" || r.Header.Get("Authorization") != "" {
		return clientAuth{}, invalidRequest("more than one client authentication method")
	}
	if f["client_assertion_type"] != issuer.ClientAssertionType {
		return clientAuth{}, &issuer.Error{Code: issuer.CodeInvalidClient, Description: "client_assertion_type must be " + issuer.ClientAssertionType}
	}
	if f["client_assertion"] == "" {
		return clientAuth{}, invalidRequest("client_assertion is required")
	}
	base := strings.TrimSuffix(s.iss.IssuerURL(), "/")
	c, err := s.iss.AuthenticateClientAssertion(r.Context(), f["client_id"], f["client_assertion"],
		[]string{s.iss.IssuerURL(), base + "/token", base + r.URL.Path})
	if err != nil {
		return clientAuth{}, err
	}
	return clientAuth{client: &c}, nil
}

// introspect handles POST /introspect (RFC 7662) for authenticated clients.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) error {
	_, body, err := s.readBody(w, r, false)
	if err != nil {
		return err
	}
	f, err := parseForm(body)
	if err != nil {
		return err
	}
	auth, err := s.authenticate(r, f)
	if err != nil {
		return err
	}
	if auth.client == nil {
		return &issuer.Error{Code: issuer.CodeInvalidClient, Description: "client authentication is required"}
	}
	resp, err := s.iss.Introspect(r.Context(), *auth.client, f["token"])
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
	return nil
}
