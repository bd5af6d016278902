package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keyward/issuer"
)

// userinfo handles GET and POST /userinfo (OIDC Core §5.3) with a bearer
// access token in the Authorization header (RFC 6750 §2.1).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "invalid_request", Description: "a bearer access token is required"})
		return nil
	}
	claims, err := s.iss.UserInfo(r.Context(), strings.TrimSpace(token))
	var oe *issuer.Error
	switch {
	case err == nil:
	case errors.As(err, &oe) && oe.Code == issuer.CodeInvalidToken:
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: oe.Code, Description: oe.Description})
		return nil
	case errors.As(err, &oe) && oe.Code == issuer.CodeInsufficientScope:
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward", error="insufficient_scope", scope="openid"`)
		writeJSON(w, http.StatusForbidden, errorBody{Error: oe.Code, Description: oe.Description})
		return nil
	default:
		return err
	}
	writeJSON(w, http.StatusOK, claims)
	return nil
}
