package storagetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// authCode returns an unused code named name expiring at at(time.Minute).
func authCode(name string) keyward.AuthCode {
	return keyward.AuthCode{
		Hash:                hash(name),
		ClientID:            "client-" + name,
		UserID:              "user-" + name,
		RedirectURI:         "https://app.example.com/cb?x=1",
		Scope:               "openid profile",
		Nonce:               "n-0S6_WzA2Mj",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		SessionID:           "session-" + name,
		AuthTime:            at(-time.Minute),
		ExpiresAt:           at(time.Minute),
		JKT:                 "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
	}
}

func normCode(c keyward.AuthCode) keyward.AuthCode {
	c.AuthTime = norm(c.AuthTime)
	c.ExpiresAt = norm(c.ExpiresAt)
	c.UsedAt = norm(c.UsedAt)
	return c
}

func codeTests() []testCase {
	return []testCase{
		{name: "AuthCode/Consume", run: testCodeConsume},
		{name: "AuthCode/CreateErrors", run: testCodeCreateErrors},
		{name: "AuthCode/ConsumeErrors", run: testCodeConsumeErrors},
		{name: "AuthCode/DeleteExpired", run: testCodeDeleteExpired},
	}
}

func testCodeConsume(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	c := authCode("a")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
	got, err := s.ConsumeAuthCode(ctx, hash("a"), at(0))
	must(t, "ConsumeAuthCode", err)
	want := normCode(c)
	want.UsedAt = norm(at(0))
	equal(t, "ConsumeAuthCode", got, want)

	// The second exchange is refused and returns the code, so the issuer can
	// revoke what the first exchange issued.
	got, err = s.ConsumeAuthCode(ctx, hash("a"), at(time.Second))
	wantErr(t, "ConsumeAuthCode(again)", err, keyward.ErrCodeReused)
	equal(t, "ConsumeAuthCode(again)", got, want)
}

func testCodeCreateErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, authCode("a")))
	wantErr(t, "CreateAuthCode(duplicate)", s.CreateAuthCode(ctx, authCode("a")), keyward.ErrConflict)
	wantErr(t, "CreateAuthCode(empty hash)", s.CreateAuthCode(ctx, keyward.AuthCode{ClientID: "c", ExpiresAt: at(0)}), keyward.ErrInvalid)
}

func testCodeConsumeErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	expired := authCode("expired")
	expired.ExpiresAt = at(0)
	used := authCode("used")
	used.UsedAt = at(-time.Second)
	for _, c := range []keyward.AuthCode{expired, used} {
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
	}
	usedExpired := authCode("used-expired")
	usedExpired.UsedAt, usedExpired.ExpiresAt = at(-time.Second), at(-time.Millisecond)
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, usedExpired))
	tests := []struct {
		name string
		code string
		want error
		got  keyward.AuthCode
	}{
		{name: "missing", code: "missing", want: keyward.ErrNotFound},
		{name: "expired at now", code: "expired", want: keyward.ErrExpired, got: normCode(expired)},
		{name: "used", code: "used", want: keyward.ErrCodeReused, got: normCode(used)},
		{name: "used and expired", code: "used-expired", want: keyward.ErrCodeReused, got: normCode(usedExpired)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ConsumeAuthCode(ctx, hash(tt.code), at(0))
			wantErr(t, "ConsumeAuthCode", err, tt.want)
			equal(t, "ConsumeAuthCode", got, tt.got)
		})
	}
	// The expired code was not marked used.
	_, err := s.ConsumeAuthCode(ctx, hash("expired"), at(-time.Second))
	must(t, "ConsumeAuthCode(expired, earlier)", err)
}

func testCodeDeleteExpired(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{-time.Hour, 0, time.Microsecond, time.Hour} {
		c := authCode(id("c", i))
		c.ExpiresAt = at(d)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
	}
	n, err := s.DeleteExpiredAuthCodes(ctx, at(0))
	must(t, "DeleteExpiredAuthCodes", err)
	if n != 2 {
		t.Errorf("DeleteExpiredAuthCodes() = %d, want 2", n)
	}
	for i := range 4 {
		_, err := s.ConsumeAuthCode(ctx, hash(id("c", i)), at(-2*time.Hour))
		if i < 2 {
			wantErr(t, "ConsumeAuthCode(deleted)", err, keyward.ErrNotFound)
		} else {
			must(t, "ConsumeAuthCode(kept)", err)
		}
	}
}
