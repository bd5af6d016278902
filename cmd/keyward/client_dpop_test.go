package main

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// TestClientRequireDPoP: --require-dpop is stored, shown as
// dpop_bound_access_tokens, and changed by "client set".
func TestClientRequireDPoP(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }
	var c struct {
		ClientID    string `json:"client_id"`
		RequireDPoP bool   `json:"dpop_bound_access_tokens"`
	}
	decode := func(out string) {
		t.Helper()
		c.RequireDPoP = false
		if err := json.Unmarshal([]byte(out), &c, json.RejectUnknownMembers(false)); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
	}
	decode(mustRun(t, with("client", "add", "svc", "--grant", "client_credentials", "--require-dpop", "--json")...))
	if !c.RequireDPoP {
		t.Fatalf("client add --require-dpop: dpop_bound_access_tokens false")
	}
	store := openStore(t, data[1])
	if got, err := store.GetClient(t.Context(), c.ClientID); err != nil || !got.RequireDPoP {
		t.Fatalf("stored client %+v (%v)", got, err)
	}
	if out := mustRun(t, with("client", "show", c.ClientID)...); !strings.Contains(out, "require_dpop:  true\n") {
		t.Fatalf("client show: %s", out)
	}
	decode(mustRun(t, with("client", "set", c.ClientID, "--require-dpop=false", "--json")...))
	if c.RequireDPoP {
		t.Fatal("client set --require-dpop=false: still required")
	}
	if got, err := store.GetClient(t.Context(), c.ClientID); err != nil || got.RequireDPoP {
		t.Fatalf("stored client %+v (%v)", got, err)
	}
	mustRun(t, with("client", "set", c.ClientID, "--require-dpop")...)
	if got, err := store.GetClient(t.Context(), c.ClientID); err != nil || !got.RequireDPoP {
		t.Fatalf("stored client after set --require-dpop %+v (%v)", got, err)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"nothing to change", []string{"client", "set", c.ClientID}, 2},
		{"unknown client", []string{"client", "set", "nope", "--require-dpop"}, 1},
	}
	for _, tt := range tests {
		if r := kw(t, with(tt.args...)...); r.code != tt.code {
			t.Errorf("%s: exit %d, want %d (%s)", tt.name, r.code, tt.code, r.stderr)
		}
	}
}
