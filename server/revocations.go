package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/verifier"
)

// RevocationLister gives the revocations that the feed publishes; every
// [keyward.Store] is one.
type RevocationLister interface {
	// ListRevokedTokens returns the access-token revocations whose expiry
	// is after now.
	ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error)
	// ListUserRevocations returns every user cutoff.
	ListUserRevocations(ctx context.Context) ([]keyward.UserRevocation, error)
	// ListRevokedGrants returns the session and refresh-token family
	// revocations whose expiry is after now.
	ListRevokedGrants(ctx context.Context, now time.Time) ([]keyward.RevokedGrant, error)
}

// revocations serves GET /revocations, the revocation feed that verifiers
// poll (verifier.RevocationList): the access tokens revoked before their
// expiry, by jti; the sessions and refresh-token families revoked, by the
// sid and fid their access tokens carry, until those tokens have expired;
// and the users whose tokens issued before a cutoff are revoked. It needs no
// authentication: it reveals only the jtis of revoked tokens, the IDs of
// revoked sessions and families, and the IDs of users whose tokens were
// revoked. The ETag covers the
// entries, not generated_at, so an unchanged feed answers 304.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) error {
	lister := s.cfg.Revocations
	if lister == nil {
		return errNoFeed
	}
	now := time.Now
	if s.cfg.Now != nil {
		now = s.cfg.Now
	}
	return s.writeRevocations(w, r, lister, now())
}

// writeRevocations writes the feed as of now.
func (s *Server) writeRevocations(w http.ResponseWriter, r *http.Request, lister RevocationLister, now time.Time) error {
	toks, err := lister.ListRevokedTokens(r.Context(), now)
	if err != nil {
		return err
	}
	grants, err := lister.ListRevokedGrants(r.Context(), now)
	if err != nil {
		return err
	}
	users, err := lister.ListUserRevocations(r.Context())
	if err != nil {
		return err
	}
	feed := verifier.RevocationFeed{
		Tokens:   make([]verifier.RevokedToken, 0, len(toks)),
		Sessions: []verifier.RevokedSession{},
		Families: []verifier.RevokedFamily{},
		Users:    make([]verifier.RevokedUser, 0, len(users)),
	}
	for _, t := range toks {
		feed.Tokens = append(feed.Tokens, verifier.RevokedToken{JTI: t.JTI, Exp: t.ExpiresAt.Unix()})
	}
	for _, g := range grants {
		// Rounded up, like a cutoff: the entry never leaves before the
		// last token it refuses has expired.
		exp := g.ExpiresAt.Unix()
		if g.ExpiresAt.After(time.Unix(exp, 0)) {
			exp++
		}
		switch g.Kind {
		case keyward.GrantSession:
			feed.Sessions = append(feed.Sessions, verifier.RevokedSession{SID: g.ID, Exp: exp})
		case keyward.GrantFamily:
			feed.Families = append(feed.Families, verifier.RevokedFamily{FID: g.ID, Exp: exp})
		}
	}
	for _, u := range users {
		// Rounded up: a token issued in the cutoff's second is refused, so
		// none issued before the cutoff slips through.
		before := u.Before.Unix()
		if u.Before.After(time.Unix(before, 0)) {
			before++
		}
		feed.Users = append(feed.Users, verifier.RevokedUser{Sub: u.UserID, Before: before})
	}
	entries, err := json.Marshal(struct {
		Tokens   []verifier.RevokedToken   `json:"tokens"`
		Sessions []verifier.RevokedSession `json:"sessions"`
		Families []verifier.RevokedFamily  `json:"families"`
		Users    []verifier.RevokedUser    `json:"users"`
	}{feed.Tokens, feed.Sessions, feed.Families, feed.Users}, json.Deterministic(true))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(entries)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	feed.GeneratedAt = now.Unix()
	body, err := json.Marshal(feed, json.Deterministic(true))
	if err != nil {
		return err
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
	return nil
}
