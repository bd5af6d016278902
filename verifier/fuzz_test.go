package verifier

import (
	"maps"
	"testing"

	"github.com/go-json-experiment/json"
)

// FuzzParseRevocationFeed feeds arbitrary documents to the revocation feed
// parser: it must never panic, and what it accepts must hold no entry
// without its key and no token already expired, and must read back the same
// after being written out again. Seeds are in
// testdata/fuzz/FuzzParseRevocationFeed.
func FuzzParseRevocationFeed(f *testing.F) {
	f.Add([]byte(`{"generated_at":1,"tokens":[{"jti":"a","exp":2000000000}],"users":[{"sub":"u","before":1700000000}]}`), int64(1700000000))
	f.Add([]byte(`{"tokens":[],"users":[]}`), int64(0))
	f.Add([]byte(`{"tokens":[{"jti":"a","exp":5},{"jti":"a","exp":9},{"jti":"b","exp":0}]}`), int64(6))
	f.Fuzz(func(t *testing.T, body []byte, now int64) {
		tokens, users, err := parseFeed(body, now)
		if err != nil {
			if tokens != nil || users != nil {
				t.Fatalf("an error with entries: %v", err)
			}
			return
		}
		for jti, exp := range tokens {
			if jti == "" || (exp != 0 && exp <= now) {
				t.Fatalf("token entry %q exp %d kept at %d", jti, exp, now)
			}
		}
		feed := RevocationFeed{Tokens: []RevokedToken{}, Users: []RevokedUser{}}
		for jti, exp := range tokens {
			feed.Tokens = append(feed.Tokens, RevokedToken{JTI: jti, Exp: exp})
		}
		for sub, before := range users {
			if sub == "" {
				t.Fatal("user entry without sub kept")
			}
			feed.Users = append(feed.Users, RevokedUser{Sub: sub, Before: before})
		}
		again, err := json.Marshal(feed)
		if err != nil {
			t.Fatal(err)
		}
		tokens2, users2, err := parseFeed(again, now)
		if err != nil || !maps.Equal(tokens, tokens2) || !maps.Equal(users, users2) {
			t.Fatalf("round trip: %v; %v -> %v, %v -> %v", err, tokens, tokens2, users, users2)
		}
	})
}
