package dpop

import (
	"errors"
	"testing"

	"github.com/keyward/keyward/jose"
)

func TestBoundJKT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload string
		want    string
		err     bool
	}{
		{`{"sub":"a"}`, "", false},
		{`{"cnf":{"jkt":"abc"}}`, "abc", false},
		{`{"cnf":{"x5t#S256":"abc"}}`, "", false},
		{`{"cnf":"abc"}`, "", true},
		{`{"cnf":{"jkt":""}}`, "", true},
		{`{"cnf":{"jkt":7}}`, "", true},
		{`{"cnf":null}`, "", true},
	}
	for _, tt := range tests {
		c, err := jose.ParseClaims([]byte(tt.payload))
		if err != nil {
			t.Fatal(err)
		}
		got, err := BoundJKT(c)
		if got != tt.want || (err != nil) != tt.err || err != nil && !errors.Is(err, jose.ErrMalformed) {
			t.Errorf("BoundJKT(%s) = %q, %v", tt.payload, got, err)
		}
	}
}

func TestBind(t *testing.T) {
	t.Parallel()
	c := &jose.Claims{Subject: "a"}
	Bind(c, "jkt-1")
	b, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := jose.ParseClaims(b)
	if err != nil {
		t.Fatal(err)
	}
	if jkt, err := BoundJKT(back); jkt != "jkt-1" || err != nil {
		t.Fatalf("round trip of %s: %q, %v", b, jkt, err)
	}
	other := map[string]any{"x5t#S256": "t"}
	c = &jose.Claims{Extra: map[string]any{"cnf": other}}
	Bind(c, "jkt-2")
	if len(other) != 1 || c.Extra["cnf"].(map[string]any)["x5t#S256"] != "t" {
		t.Errorf("Bind changed or dropped the existing cnf: %v", c.Extra)
	}
}
