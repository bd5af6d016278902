package main

import (
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/storage/sqlite"
)

// storeArgs returns --data for a fresh data directory.
func storeArgs(t *testing.T) []string {
	t.Helper()
	return []string{"--data", filepath.Join(t.TempDir(), "data")}
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }

	// add with a generated password, printed once.
	out := mustRun(t, with("user", "add", "alice", "--role", "reader", "--role", "writer", "--attr", "email=alice@example.com")...)
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no generated password in %q", out)
	}
	// add with --password-stdin and --json.
	r := invocation{stdin: "bob-secret-pw\n"}.kw(t, with("user", "add", "bob", "--password-stdin", "--json")...)
	if r.code != 0 {
		t.Fatalf("add bob: %d %s", r.code, r.stderr)
	}
	var bob map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &bob); err != nil || bob["username"] != "bob" || bob["password"] != nil {
		t.Fatalf("add --json: %s (%v)", r.stdout, err)
	}
	if strings.Contains(r.stdout, "bob-secret-pw") || strings.Contains(r.stdout, "argon2id") {
		t.Fatal("add --json shows the password or its hash")
	}
	if r := kw(t, with("user", "add", "alice")...); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("duplicate add: %d %s", r.code, r.stderr)
	}
	if r := kw(t, with("user", "add", "carol", "--attr", "novalue")...); r.code == 0 {
		t.Fatal("--attr without = accepted")
	}
	if r := (invocation{stdin: ""}).kw(t, with("user", "add", "dave", "--password-stdin")...); r.code == 0 {
		t.Fatal("an empty password on stdin was accepted")
	}

	// list and show.
	var users []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, with("user", "list", "--json")...)), &users); err != nil || len(users) != 2 {
		t.Fatalf("list --json: %v %v", users, err)
	}
	if out := mustRun(t, with("user", "list")...); !strings.Contains(out, "alice") || !strings.Contains(out, "reader,writer") {
		t.Fatalf("list: %s", out)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, with("user", "show", "alice", "--json")...)), &shown); err != nil {
		t.Fatal(err)
	}
	if attrs, _ := shown["attributes"].(map[string]any); attrs["email"] != "alice@example.com" || shown["disabled"] != false {
		t.Fatalf("show --json: %v", shown)
	}
	if r := kw(t, with("user", "show", "nobody")...); r.code != 1 {
		t.Fatalf("show unknown: %d", r.code)
	}

	// The stored passwords work, and passwd changes them.
	store := openStore(t, data[1])
	checkPassword(t, store, "alice", m[1], true)
	checkPassword(t, store, "bob", "bob-secret-pw", true)
	if r := (invocation{stdin: "new-bob-password\n"}).kw(t, with("user", "passwd", "bob", "--password-stdin")...); r.code != 0 {
		t.Fatalf("passwd: %s", r.stderr)
	}
	checkPassword(t, store, "bob", "bob-secret-pw", false)
	checkPassword(t, store, "bob", "new-bob-password", true)

	// disable, enable, delete.
	mustRun(t, with("user", "disable", "alice")...)
	if u, _ := store.GetUserByName(t.Context(), "alice"); !u.Disabled {
		t.Fatal("disable did not disable")
	}
	mustRun(t, with("user", "enable", "alice")...)
	if u, _ := store.GetUserByName(t.Context(), "alice"); u.Disabled {
		t.Fatal("enable did not enable")
	}
	mustRun(t, with("user", "delete", "bob")...)
	if _, err := store.GetUserByName(t.Context(), "bob"); err == nil {
		t.Fatal("delete did not delete")
	}
}

func openStore(t *testing.T, dataDir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dataDir, "keyward.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func checkPassword(t *testing.T, store *sqlite.Store, name, password string, want bool) {
	t.Helper()
	u, err := store.GetUserByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := issuer.VerifyPassword(u.PasswordHash, password); err != nil || ok != want {
		t.Fatalf("password of %s: %v, %v; want %v", name, ok, err, want)
	}
}

func TestClientCommands(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }
	out := mustRun(t, with("client", "add", "orders", "--grant", "client_credentials", "--scope", "read", "--scope", "write", "--audience", "orders-api", "--json")...)
	var added struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		GrantTypes   []string `json:"grant_types"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.ClientID == "" || len(added.ClientSecret) != 43 {
		t.Fatalf("client add --json: %s (%v)", out, err)
	}
	if len(added.GrantTypes) != 1 || added.GrantTypes[0] != "client_credentials" {
		t.Fatalf("grants of a confidential client given --grant client_credentials: %v", added.GrantTypes)
	}
	store := openStore(t, data[1])
	c, err := store.GetClient(t.Context(), added.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretHash == added.ClientSecret || !issuer.VerifyClientSecret(c.SecretHash, added.ClientSecret) || c.Audience != "orders-api" {
		t.Fatalf("stored client %+v", c)
	}

	// The secret is shown by add only.
	for _, args := range [][]string{with("client", "show", added.ClientID), with("client", "show", added.ClientID, "--json"), with("client", "list"), with("client", "list", "--json")} {
		out := mustRun(t, args...)
		if !strings.Contains(out, added.ClientID) || strings.Contains(out, added.ClientSecret) || strings.Contains(out, "sha256") {
			t.Fatalf("%v: %s", args, out)
		}
	}

	pub := mustRun(t, with("client", "add", "spa", "--public", "--redirect-uri", "https://app.example.com/cb")...)
	if !strings.Contains(pub, "client_id:") || strings.Contains(pub, "client_secret") {
		t.Fatalf("public client add: %s", pub)
	}

	// --id-token-alg is stored and shown as id_token_signed_response_alg.
	out = mustRun(t, with("client", "add", "rp", "--public", "--redirect-uri", "https://rp.example.com/cb", "--id-token-alg", "RS256", "--json")...)
	var rp struct {
		ClientID   string `json:"client_id"`
		IDTokenAlg string `json:"id_token_signed_response_alg"`
	}
	if err := json.Unmarshal([]byte(out), &rp); err != nil || rp.IDTokenAlg != "RS256" {
		t.Fatalf("client add --id-token-alg RS256 --json: %s (%v)", out, err)
	}
	if c, err := store.GetClient(t.Context(), rp.ClientID); err != nil || c.IDTokenSignedResponseAlg != "RS256" {
		t.Fatalf("stored client %+v (%v)", c, err)
	}
	if out := mustRun(t, with("client", "show", rp.ClientID)...); !strings.Contains(out, "id_token_alg:  RS256") {
		t.Fatalf("client show: %s", out)
	}
	// --post-logout-redirect-uri is stored, kept in order, and shown.
	out = mustRun(t, with("client", "add", "rp2", "--public", "--redirect-uri", "https://rp.example.com/cb",
		"--post-logout-redirect-uri", "https://rp.example.com/bye", "--post-logout-redirect-uri", "com.example.rp:/bye", "--json")...)
	var rp2 struct {
		ClientID   string   `json:"client_id"`
		LogoutURIs []string `json:"post_logout_redirect_uris"`
	}
	wantLogout := []string{"https://rp.example.com/bye", "com.example.rp:/bye"}
	if err := json.Unmarshal([]byte(out), &rp2); err != nil || !slices.Equal(rp2.LogoutURIs, wantLogout) {
		t.Fatalf("client add --post-logout-redirect-uri --json: %s (%v)", out, err)
	}
	if c, err := store.GetClient(t.Context(), rp2.ClientID); err != nil || !slices.Equal(c.PostLogoutRedirectURIs, wantLogout) {
		t.Fatalf("stored client %+v (%v)", c, err)
	}
	if out := mustRun(t, with("client", "show", rp2.ClientID)...); !strings.Contains(out, "post_logout:   https://rp.example.com/bye com.example.rp:/bye\n") {
		t.Fatalf("client show: %s", out)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"javascript post-logout redirect", []string{"client", "add", "x", "--public", "--redirect-uri", "https://app.example.com/cb", "--post-logout-redirect-uri", "javascript:alert(1)//"}},
		{"http post-logout redirect to another host", []string{"client", "add", "x", "--redirect-uri", "https://app.example.com/cb", "--post-logout-redirect-uri", "http://app.example.com/bye"}},
		{"wildcard post-logout redirect", []string{"client", "add", "x", "--redirect-uri", "https://app.example.com/cb", "--post-logout-redirect-uri", "https://*.example.com/bye"}},
		{"unknown grant", []string{"client", "add", "x", "--grant", "password"}},
		{"public with client_credentials", []string{"client", "add", "x", "--public", "--grant", "client_credentials"}},
		{"relative redirect", []string{"client", "add", "x", "--redirect-uri", "/cb"}},
		{"javascript redirect", []string{"client", "add", "x", "--public", "--redirect-uri", "javascript:alert(1)//"}},
		{"http redirect to another host", []string{"client", "add", "x", "--redirect-uri", "http://app.example.com/cb"}},
		{"wildcard redirect", []string{"client", "add", "x", "--redirect-uri", "https://*.example.com/cb"}},
		{"confidential client without a grant", []string{"client", "add", "x"}},
		{"http jwks url", []string{"client", "add", "x", "--jwks-url", "http://example.com/jwks"}},
		{"symmetric ID-token alg", []string{"client", "add", "x", "--id-token-alg", "HS256"}},
		{"none ID-token alg", []string{"client", "add", "x", "--id-token-alg", "none"}},
		{"unknown ID-token alg", []string{"client", "add", "x", "--id-token-alg", "rs256"}},
		{"unknown client", []string{"client", "show", "nope"}},
	}
	for _, tt := range tests {
		if r := kw(t, with(tt.args...)...); r.code == 0 {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	mustRun(t, with("client", "delete", added.ClientID)...)
	if _, err := store.GetClient(t.Context(), added.ClientID); err == nil {
		t.Fatal("delete did not delete")
	}
}

func TestKeysCommands(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, append(data, "--alg", "ES256")...) }
	// No master key yet: keys refuses to make one (serve does).
	if r := kw(t, with("keys", "rotate")...); r.code != 1 || !strings.Contains(r.stderr, "master key") {
		t.Fatalf("rotate without a master key: %d %s", r.code, r.stderr)
	}
	env := map[string]string{"KEYWARD_MASTER_KEY": strings.Repeat("ab", 32)}
	inv := invocation{env: env}
	run := func(args ...string) string {
		t.Helper()
		r := inv.kw(t, with(args...)...)
		if r.code != 0 {
			t.Fatalf("keyward %v: %d %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	// With --alg ES256 a rotation rotates the RS256 ID-token key too; an
	// import replaces the primary key only.
	run("keys", "rotate", "--now")
	run("keys", "rotate")
	run("keys", "import", testKey("ed25519.pem"))
	type listed struct {
		KID     string `json:"kid"`
		Alg     string `json:"alg"`
		Purpose string `json:"purpose"`
		State   string `json:"state"`
	}
	list := func() (keys []listed, count map[string]int) {
		t.Helper()
		if err := json.Unmarshal([]byte(run("keys", "list", "--json")), &keys); err != nil {
			t.Fatal(err)
		}
		count = map[string]int{}
		for _, k := range keys {
			count[k.Purpose+" "+k.Alg+" "+k.State]++
		}
		return keys, count
	}
	keys, count := list()
	want := map[string]int{"primary ES256 active": 1, "primary ES256 pending": 1, "primary EdDSA pending": 1,
		"id_token RS256 active": 1, "id_token RS256 pending": 1}
	if !maps.Equal(count, want) {
		t.Fatalf("keys by purpose, alg and state: %v, want %v\n%+v", count, want, keys)
	}
	first := keys[slices.IndexFunc(keys, func(k listed) bool { return k.Purpose == "primary" && k.State == "active" })]
	// The flags before "--", which a kid starting with "-" needs.
	retired := inv.kw(t, append(with("keys", "retire"), "--", first.KID)...)
	if retired.code != 0 || !strings.Contains(retired.stdout, "RS256 ID tokens") {
		t.Fatalf("keys retire -- %s: %d %s %s", first.KID, retired.code, retired.stdout, retired.stderr)
	}
	keys, count = list()
	want = map[string]int{"primary ES256 retired": 1, "primary ES256 active": 1, "primary EdDSA pending": 1,
		"id_token RS256 active": 1, "id_token RS256 pending": 1}
	if !maps.Equal(count, want) || keys[slices.IndexFunc(keys, func(k listed) bool { return k.KID == first.KID })].State != "retired" {
		t.Fatalf("after retire: %v, want %v\n%+v", count, want, keys)
	}
	if out := run("keys", "list"); !strings.Contains(out, "retired") || !strings.Contains(out, "id_token") || strings.Contains(out, "PRIVATE") {
		t.Fatalf("keys list: %s", out)
	}
	if r := inv.kw(t, with("keys", "retire", "no-such-kid")...); r.code != 1 {
		t.Fatalf("retire unknown: %d", r.code)
	}
	// Another master key cannot use the keys.
	other := invocation{env: map[string]string{"KEYWARD_MASTER_KEY": strings.Repeat("cd", 32)}}
	if r := other.kw(t, with("keys", "rotate", "--now")...); r.code != 1 || !strings.Contains(r.stderr, "master key") {
		t.Fatalf("rotate with another master key: %d %s", r.code, r.stderr)
	}
}
