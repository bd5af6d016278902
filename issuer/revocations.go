package issuer

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyward/keyward"
)

// The claims that tie an access token to what can revoke it before its
// expiry, besides its "jti" and its subject's cutoff.
const (
	// ClaimSessionID is OpenID Connect's "sid": the issuer login session an
	// access token was issued in, directly by an authorization code or by a
	// refresh token descended from one. Tokens from a password login or the
	// client_credentials grant have none.
	ClaimSessionID = "sid"
	// ClaimFamilyID is "fid", keyward's own claim: the refresh-token family
	// an access token belongs to, the same for the token minted with the
	// family's first refresh token and for every token its rotations mint.
	// Every access token from an authorization code carries one (a code
	// reuse revokes it), whether or not a refresh token was issued; tokens
	// from the client_credentials grant have none.
	ClaimFamilyID = "fid"
)

// GrantMargin is how long, beyond the longest access-token lifetime, a
// revoked session or refresh-token family stays in the revocation feed. An
// entry matters while an access token minted before the revocation may
// still be accepted: until the revocation + the access-token lifetime + the
// leeway verifiers apply to exp. The lifetime taken is the longer of the
// issuer's AccessTTL and its key manager's (the bound the key lifecycle
// relies on), so an AccessTTL shortened at a restart is covered while the
// key manager's is not shortened too; the margin covers the leeway (30 s by
// default) and clock skew. A verifier allowing more leeway than the margin
// could accept again, after the entry leaves, a token that the entry
// refused.
const GrantMargin = 5 * time.Minute

// tokenLinks names the session and refresh-token family an access token
// belongs to, for [ClaimSessionID] and [ClaimFamilyID]; empty means none.
type tokenLinks struct {
	sid, fid string
	// jkt is the thumbprint of the DPoP key the token is bound to
	// ([ClaimConfirmation]); empty means a bearer token.
	jkt string
}

// UserGrantLimit is how many published session and family revocations one
// user may have in the revocation feed at a time. A revocation past it
// publishes a cutoff for the user instead: every access token of the user
// issued before the cutoff is refused, the same refusal the grants gave and
// more, and the store leaves the user's grants revoked before the cutoff out
// of the feed. The user's other sessions keep their refresh tokens and
// obtain new access tokens by refreshing. So one account can add at most
// this many grant entries and one cutoff to the feed, however fast it
// revokes; concurrent revocations of one user may each pass the count
// before any is recorded, adding at most one entry each beyond it.
const UserGrantLimit = 16

// publishGrant records in the revocation feed that the session or family
// with the ID, whose access tokens belong to the user (empty: none), was
// revoked at now, until every access token it minted has expired, so that
// verifiers following the feed refuse them. Past [UserGrantLimit] published
// grants of the user, it publishes a user cutoff first, which refuses this
// grant's tokens and leaves it out of the feed.
func (i *Issuer) publishGrant(ctx context.Context, kind keyward.GrantKind, id, userID string, now time.Time) error {
	if userID != "" {
		n, err := i.cfg.Store.CountUserGrants(ctx, userID, now)
		if err != nil {
			return err
		}
		if n >= UserGrantLimit {
			// The next whole second, so that a token minted in this very
			// second (its "iat" has whole seconds) is refused too, as the
			// grant refused it.
			before := now.Truncate(time.Second).Add(time.Second)
			if err := i.cfg.Store.RevokeUser(ctx, keyward.UserRevocation{UserID: userID, Before: before}); err != nil {
				return err
			}
			i.audit(ctx, slog.LevelWarn, "user_grants_coalesced", slog.String("user_id", userID),
				slog.Int("grants", n), slog.Time("before", before))
		}
	}
	ttl := max(i.cfg.AccessTTL, i.cfg.Keys.Config().AccessTTL)
	return i.cfg.Store.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: kind, ID: id, UserID: userID, RevokedAt: now, ExpiresAt: now.Add(ttl + GrantMargin),
	})
}
