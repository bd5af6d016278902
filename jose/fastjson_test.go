package jose

import (
	"reflect"
	"testing"

	"github.com/go-json-experiment/json"
)

// FuzzFastPath holds the fast path to the strict decoder: whatever header
// or claims set the fast path accepts, the strict decoder must accept too
// and read into exactly the same values. Declining is always allowed.
func FuzzFastPath(f *testing.F) {
	for _, tc := range fastPathCases {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastClaims(t, data)
		checkFastHeader(t, data)
	})
}

func checkFastClaims(t *testing.T, data []byte) {
	t.Helper()
	var fast Claims
	if !fastClaims(string(data), nil, &fast) {
		return
	}
	var strict Claims
	if err := json.Unmarshal(data, &strict); err != nil {
		t.Fatalf("fast path accepted claims %q that the strict decoder refuses: %v", data, err)
	}
	if !reflect.DeepEqual(fast, strict) {
		t.Fatalf("claims %q: fast path read %#v, strict decoder %#v", data, fast, strict)
	}
}

func checkFastHeader(t *testing.T, data []byte) {
	t.Helper()
	var fast JWS
	if !fastHeader(string(data), &fast.Header) {
		return
	}
	var strict JWS
	if err := json.Unmarshal(data, (*headerReader)(&strict)); err != nil {
		t.Fatalf("fast path accepted header %q that the strict decoder refuses: %v", data, err)
	}
	if strict.refused != 0 {
		t.Fatalf("fast path accepted header %q with a refused parameter", data)
	}
	if fast.Header != strict.Header {
		t.Fatalf("header %q: fast path read %#v, strict decoder %#v", data, fast.Header, strict.Header)
	}
}

// fastPathCases are documents with whether the fast path must take them
// (as claims and as a header). A fast path that silently declines the
// common tokens would cost nothing in correctness, so this pins it.
var fastPathCases = []struct {
	name         string
	doc          string
	claims, head bool
}{
	{"access token", `{"iss":"https://issuer.example","sub":"123","aud":"api","exp":1700000000,"iat":1699999000,"jti":"abc","client_id":"web","scope":"openid profile","roles":["admin","dev"],"email":"user@example.com","email_verified":true,"n":-12,"x":null}`, true, false},
	{"aud array", `{"aud":["a","b"],"exp":1}`, true, true},
	{"empty arrays", `{"aud":[],"roles":[]}`, true, true},
	{"whitespace", " \t\r\n{ \"sub\" : \"x\" , \"exp\" :\n1 } \n", true, true},
	{"empty object", `{}`, true, true},
	{"utf-8", `{"name":"Jürgen","日本":"語"}`, true, true},
	{"rs256 header", `{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, true, true},
	{"header extras", `{"alg":"ES256","cty":"JWT","b64":true,"x":[1,"a",null]}`, true, true},
	{"escape in value", `{"sub":"a\"b"}`, false, false},
	{"escape in name", `{"\u0073ub":"x"}`, false, false},
	{"nested object", `{"address":{"city":"x"}}`, false, false},
	{"nested array", `{"m":[[1]]}`, false, false},
	{"fraction", `{"exp":1.5}`, false, false},
	{"exponent", `{"n":1e3}`, false, false},
	{"negative zero", `{"n":-0}`, false, false},
	{"leading zero", `{"n":01}`, false, false},
	{"16 digits", `{"n":1234567890123456}`, false, false},
	{"duplicate registered", `{"sub":"a","sub":"b"}`, false, false},
	{"duplicate private", `{"r":1,"r":2}`, false, false},
	{"duplicate alg", `{"alg":"RS256","alg":"none"}`, false, false},
	{"trailing comma", `{"a":1,}`, false, false},
	{"trailing bytes", `{"a":1}x`, false, false},
	{"two objects", `{}{}`, false, false},
	{"not an object", `["a"]`, false, false},
	{"null", `null`, false, false},
	{"bad literal", `{"a":tru}`, false, false},
	{"literal run-on", `{"a":truex}`, false, false},
	{"control char", "{\"a\":\"x\ty\"}", false, false},
	{"invalid utf-8", "{\"a\":\"\xff\"}", false, false},
	{"surrogate utf-8", "{\"a\":\"\xed\xa0\x80\"}", false, false},
	{"unterminated", `{"a":"b`, false, false},
	{"wrong type sub", `{"sub":1}`, false, true},
	{"wrong type alg", `{"alg":1}`, true, false},
	{"crit", `{"alg":"RS256","crit":["exp"]}`, true, false},
	{"jwk", `{"alg":"RS256","jwk":"x"}`, true, false},
	{"many header members", `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1}`, true, false},
}

func TestFastPath(t *testing.T) {
	t.Parallel()
	for _, tc := range fastPathCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := []byte(tc.doc)
			var c Claims
			if got := fastClaims(string(data), nil, &c); got != tc.claims {
				t.Errorf("fastClaims took it: %v, want %v", got, tc.claims)
			}
			var j JWS
			if got := fastHeader(string(data), &j.Header); got != tc.head {
				t.Errorf("fastHeader took it: %v, want %v", got, tc.head)
			}
			checkFastClaims(t, data)
			checkFastHeader(t, data)
		})
	}
}

// TestFastPathResult checks what the fast path reads from an access token,
// field by field, beyond agreeing with the strict decoder.
func TestFastPathResult(t *testing.T) {
	t.Parallel()
	c, err := ParseClaims([]byte(fastPathCases[0].doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Claims{
		Issuer: "https://issuer.example", Subject: "123", Audience: Audience{"api"},
		Expiry: 1700000000, IssuedAt: 1699999000, ID: "abc",
		Extra: map[string]any{
			"client_id": "web", "scope": "openid profile", "roles": []any{"admin", "dev"},
			"email": "user@example.com", "email_verified": true, "n": float64(-12), "x": nil,
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %#v\nwant %#v", c, want)
	}
}
