package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	f, err := Load(filepath.Join("testdata", "serve.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Key: "listen", Values: []string{"127.0.0.1:4100"}, Line: 2},
		{Key: "access-ttl", Values: []string{"10m"}, Line: 3},
		{Key: "audience", Values: []string{"orders", "billing"}, List: true, Line: 4},
		{Key: "public", Values: []string{"/healthz", "/static/*"}, List: true, Line: 5},
	}
	if !reflect.DeepEqual(f.Entries, want) {
		t.Errorf("Entries = %+v\nwant %+v", f.Entries, want)
	}
	if _, err := Load(filepath.Join("testdata", "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		entries int
		wantErr string // substring; "" means success
	}{
		{"empty", "", 0, ""},
		{"comments only", "# nothing\n", 0, ""},
		{"null document", "~\n", 0, ""},
		{"empty list", "audience: []\n", 1, ""},
		{"not a mapping", "- a\n- b\n", 0, "x.yaml:1: invalid configuration file: want a mapping"},
		{"nested mapping", "listen: 1\ndb:\n  url: x\n", 0, `x.yaml:3: invalid configuration file: "db" must be a value or a list`},
		{"duplicate key", "listen: a\nissuer: b\nlisten: c\n", 0, `x.yaml:3: invalid configuration file: "listen" already set on line 1`},
		{"no value", "listen:\n", 0, `x.yaml:1: invalid configuration file: "listen" has no value`},
		{"list of mappings", "audience:\n  - a: b\n", 0, `x.yaml:2: invalid configuration file: the items of "audience"`},
		{"syntax error", "listen: [a\n", 0, "x.yaml: invalid configuration file"},
		{"two documents", "listen: a\n---\nlisten: b\n", 0, "one YAML document expected"},
		{"number key", "1: a\n", 0, "x.yaml:1: invalid configuration file: keys must be flag names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse("x.yaml", []byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Entries) != tc.entries {
					t.Fatalf("%d entries, want %d", len(f.Entries), tc.entries)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want one containing %q and wrapping ErrInvalid", err, tc.wantErr)
			}
		})
	}
}

func TestMarshalReadsBack(t *testing.T) {
	t.Parallel()
	in := []Entry{
		{Key: "listen", Values: []string{"127.0.0.1:4000"}},
		{Key: "cache-size", Values: []string{"10000"}},
		{Key: "upstream", Values: []string{""}},
		{Key: "insecure", Values: []string{"true"}},
		{Key: "audience", Values: []string{"a", "b c"}, List: true},
		{Key: "public", List: true},
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("out.yaml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for i := range f.Entries {
		f.Entries[i].Line = 0
	}
	if !reflect.DeepEqual(f.Entries, in) {
		t.Errorf("read back %+v\nwant %+v\nfrom:\n%s", f.Entries, in, b)
	}
}
