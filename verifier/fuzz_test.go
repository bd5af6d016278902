package verifier

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// FuzzParseRevocationFeed feeds arbitrary documents to the revocation feed
// parser: it must never panic, and what it accepts must hold no entry
// without its key, no token, session or family already expired and no
// cursor but a short decimal number, and must
// read back the same after being written out again. Seeds are in
// testdata/fuzz/FuzzParseRevocationFeed.
func FuzzParseRevocationFeed(f *testing.F) {
	f.Add([]byte(`{"generated_at":1,"tokens":[{"jti":"a","exp":2000000000}],"users":[{"sub":"u","before":1700000000}]}`), int64(1700000000))
	f.Add([]byte(`{"tokens":[],"users":[]}`), int64(0))
	f.Add([]byte(`{"tokens":[{"jti":"a","exp":5},{"jti":"a","exp":9},{"jti":"b","exp":0}]}`), int64(6))
	f.Add([]byte(`{"tokens":[],"sessions":[{"sid":"s","exp":9},{"sid":"s","exp":0}],"families":[{"fid":"f","exp":5},{"fid":"g","exp":7}],"users":[]}`), int64(6))
	f.Add([]byte(`{"cursor":"42","full":true,"more":true,"tokens":[],"sessions":[],"families":[],"users":[]}`), int64(0))
	f.Add([]byte(`{"cursor":"-1","tokens":[]}`), int64(0))
	f.Fuzz(func(t *testing.T, body []byte, now int64) {
		e, meta, err := parseFeed(body, now)
		if err != nil {
			if e.tokens != nil || e.sessions != nil || e.families != nil || e.users != nil || meta != (feedMeta{}) {
				t.Fatalf("an error with entries: %v", err)
			}
			return
		}
		for name, m := range map[string]map[string]int64{"token": e.tokens, "session": e.sessions, "family": e.families} {
			for key, exp := range m {
				if key == "" || (exp != 0 && exp <= now) {
					t.Fatalf("%s entry %q exp %d kept at %d", name, key, exp, now)
				}
			}
		}
		if len(meta.cursor) > maxCursorLen || strings.Trim(meta.cursor, "0123456789") != "" || (meta.cursor == "" && (meta.full || meta.more)) {
			t.Fatalf("meta %+v accepted", meta)
		}
		feed := RevocationFeed{Tokens: []RevokedToken{}, Sessions: []RevokedSession{}, Families: []RevokedFamily{}, Users: []RevokedUser{},
			Cursor: meta.cursor, Full: meta.full, More: meta.more}
		for jti, exp := range e.tokens {
			feed.Tokens = append(feed.Tokens, RevokedToken{JTI: jti, Exp: exp})
		}
		for sid, exp := range e.sessions {
			feed.Sessions = append(feed.Sessions, RevokedSession{SID: sid, Exp: exp})
		}
		for fid, exp := range e.families {
			feed.Families = append(feed.Families, RevokedFamily{FID: fid, Exp: exp})
		}
		for sub, before := range e.users {
			if sub == "" {
				t.Fatal("user entry without sub kept")
			}
			feed.Users = append(feed.Users, RevokedUser{Sub: sub, Before: before})
		}
		again, err := json.Marshal(feed)
		if err != nil {
			t.Fatal(err)
		}
		e2, meta2, err := parseFeed(again, now)
		if err != nil || !e.equal(e2) || meta != meta2 {
			t.Fatalf("round trip: %v; %+v %+v -> %+v %+v", err, e, meta, e2, meta2)
		}
	})
}
