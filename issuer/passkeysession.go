package issuer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/keyward/keyward"
)

// openSession opens, or renews, the issuer session of user u after a
// successful sign-in, for a browser that presents the session cookie value
// current (empty for none), with the rules of [Issuer.SignIn]: an active
// session of the same user goes on under a new cookie value, one of
// another user is ended first. It returns the new cookie value and the
// session.
func (i *Issuer) openSession(ctx context.Context, u keyward.User, current string, now time.Time) (string, keyward.Session, error) {
	cookie, err := randomString(i.cfg.Rand, 32)
	if err != nil {
		return "", keyward.Session{}, internal(err)
	}
	if current != "" {
		old, err := i.Session(ctx, current)
		switch {
		case errors.Is(err, ErrNoSession):
		case err != nil:
			return "", keyward.Session{}, err
		case old.UserID == u.ID:
			s, err := i.renewSession(ctx, old.ID, current, cookie, now)
			switch {
			case err == nil:
				i.audit(ctx, slog.LevelInfo, "session_renewed", slog.String("session_id", s.ID), slog.String("user_id", s.UserID))
				return cookie, s, nil
			case !errors.Is(err, ErrNoSession):
				return "", keyward.Session{}, err
			}
		default:
			if err := i.endSession(ctx, old.ID, old.UserID, now, "other_user_signed_in"); err != nil {
				return "", keyward.Session{}, err
			}
		}
	}
	id, err := NewID(i.cfg.Rand)
	if err != nil {
		return "", keyward.Session{}, internal(err)
	}
	s := keyward.Session{ID: id, CookieHash: hashToken(cookie), UserID: u.ID, CreatedAt: now, AuthTime: now, ExpiresAt: now.Add(SessionTTL)}
	if err := i.cfg.Store.CreateSession(ctx, s); err != nil {
		return "", keyward.Session{}, internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "session_started", slog.String("session_id", s.ID), slog.String("user_id", s.UserID))
	return cookie, s, nil
}
