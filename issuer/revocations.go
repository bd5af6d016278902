package issuer

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
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

// UserGrantLimit is how many entries of one subject the revocation feed
// holds at a time: published session and family revocations of a user, and
// access-token revocations (RFC 7009, by "jti") of a subject, a user or
// the client of a client_credentials token. A revocation past it publishes
// a cutoff for the subject instead: every access token of the subject
// issued before the cutoff is refused, the same refusal the entries gave
// and more, and the store leaves the subject's entries revoked before the
// cutoff out of the feed. A user's other sessions keep their refresh
// tokens and obtain new access tokens by refreshing; a client asks for new
// tokens. So one user or client can add at most this many entries and one
// cutoff to the feed, however fast it revokes; concurrent revocations of
// one subject may each pass the count before any is recorded, adding at
// most one entry each beyond it.
//
// The cutoff is an entry of the feed's "users", keyed by the token's
// "sub": a client_credentials token's subject is its client's ID, so a
// client's cutoff needs no entry kind that verifiers predating it would
// not know, and every verifier applies it.
const UserGrantLimit = 16

// publishGrant records in the revocation feed that the session or family
// with the ID, whose access tokens belong to the user (empty: none), was
// revoked at now, until every access token it minted has expired, so that
// verifiers following the feed refuse them. Past [UserGrantLimit] published
// entries of the user, it publishes a user cutoff first, which refuses this
// grant's tokens and leaves it out of the feed.
func (i *Issuer) publishGrant(ctx context.Context, kind keyward.GrantKind, id, userID string, now time.Time) error {
	if err := i.coalesce(ctx, userID, now); err != nil {
		return err
	}
	ttl := max(i.cfg.AccessTTL, i.cfg.Keys.Config().AccessTTL)
	return i.cfg.Store.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: kind, ID: id, UserID: userID, RevokedAt: now, ExpiresAt: now.Add(ttl + GrantMargin),
	})
}

// publishToken records in the revocation feed that the access token with
// the jti, expiring at exp, of the subject (its "sub": a user, or the client
// of a client_credentials token; empty: unknown) was revoked at now. Past
// [UserGrantLimit] published entries of the subject, it publishes a cutoff
// for the subject first, which refuses the token and leaves it out of the
// feed.
func (i *Issuer) publishToken(ctx context.Context, jti, subject string, exp, now time.Time) error {
	if err := i.coalesce(ctx, subject, now); err != nil {
		return err
	}
	return i.cfg.Store.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: jti, Subject: subject, ExpiresAt: exp, RevokedAt: now})
}

// coalesce publishes a cutoff for the subject at the next whole second when
// it already has [UserGrantLimit] revocations unexpired in the store,
// published or covered by an earlier cutoff, so that the entry about to be
// published is covered by it. Counting the covered ones too keeps a subject
// that went past the limit under a cutoff, raised at most once a second,
// until its entries have expired: the feed's changes, not only its state,
// then hold at most [UserGrantLimit] entries of the subject per access-token
// lifetime, and a verifier following the changes holds no more.
func (i *Issuer) coalesce(ctx context.Context, subject string, now time.Time) error {
	if subject == "" {
		return nil
	}
	n, err := i.cfg.Store.CountUserEntries(ctx, subject, now, UserGrantLimit)
	if err != nil || n < UserGrantLimit {
		return err
	}
	// The next whole second, so that a token minted in this very second
	// (its "iat" has whole seconds) is refused too, as the entry refused
	// it.
	before := now.Truncate(time.Second).Add(time.Second)
	cur, err := i.cfg.Store.UserCutoff(ctx, subject)
	if err != nil || !cur.Before(before) {
		return err // the cutoff in force covers the entry already
	}
	if err := i.cfg.Store.RevokeUser(ctx, keyward.UserRevocation{UserID: subject, Before: before}); err != nil {
		return err
	}
	i.audit(ctx, slog.LevelWarn, "user_grants_coalesced", slog.String("user_id", subject),
		slog.Int("entries", n), slog.Time("before", before))
	return nil
}

// beforeCutoff reports whether the access token with the claims was issued
// before its subject's cutoff, as a verifier following the feed reads it:
// the cutoff rounded up to the second, and a token without "iat" refused
// whenever its subject has a cutoff. Introspection and userinfo refuse such
// a token, as every verifier does.
func (i *Issuer) beforeCutoff(ctx context.Context, c *jose.Claims) (bool, error) {
	if c.Subject == "" {
		return false, nil
	}
	before, err := i.cfg.Store.UserCutoff(ctx, c.Subject)
	if err != nil || before.IsZero() {
		return false, err
	}
	cut := before.Unix()
	if before.After(time.Unix(cut, 0)) {
		cut++
	}
	return int64(c.IssuedAt) < cut, nil
}
