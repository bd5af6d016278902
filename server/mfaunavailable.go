package server

import (
	"log/slog"
	"net/http"

	"github.com/keyward/keyward"
)

// noFactorPage answers a session whose user must set up a second factor on
// a server that offers none to set up: no authenticator app (TOTP needs
// the master key) and no passkeys (they need an https or localhost
// issuer). The user can do nothing about it, so the page says so and
// sends them to the operator, with 403 and no form, the same page on
// every request of the session (no redirect that would come back to it),
// and the audit line second_factor_unavailable tells the operator who was
// turned away.
func (s *Server) noFactorPage(w http.ResponseWriter, r *http.Request, u keyward.User) {
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "second_factor_unavailable",
		slog.String("user_id", u.ID), slog.String("username", u.Username),
		slog.Bool("totp", s.iss.TOTPAvailable()), slog.Bool("passkeys", s.cfg.Passkeys != nil))
	s.render(w, r, http.StatusForbidden, s.pages.message, messagePage{Title: "Second factor required", CSS: s.pages.css,
		Message: "Your account must sign in with a second factor, such as an authenticator app or a passkey, " +
			"but this server offers no way to set one up. Contact the operator of this server."})
}
