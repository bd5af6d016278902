package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// flagName is the shape of the keys keyward writes: its flags' names.
var flagName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// FuzzParse holds Parse to its contract on any input: it never panics; an
// error wraps ErrInvalid and names the file; a parsed file has unique keys,
// lines counted from 1 and exactly one value for a key that is not a list;
// and a file whose keys are flag names, written back with Marshal, reads
// back to the same entries. The seed corpus is testdata/serve.yaml plus the
// files in testdata/fuzz/FuzzParse: every shape Parse accepts or refuses.
func FuzzParse(f *testing.F) {
	serve, err := os.ReadFile(filepath.Join("testdata", "serve.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(serve)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not wrap ErrInvalid or does not name the file", err)
			}
			return
		}
		seen := map[string]bool{}
		names := true
		for _, e := range file.Entries {
			if seen[e.Key] {
				t.Fatalf("key %q read twice", e.Key)
			}
			seen[e.Key] = true
			if e.Line < 1 {
				t.Fatalf("key %q on line %d", e.Key, e.Line)
			}
			if !e.List && len(e.Values) != 1 {
				t.Fatalf("key %q: %d values and not a list", e.Key, len(e.Values))
			}
			names = names && flagName.MatchString(e.Key)
		}
		if !names {
			return
		}
		out, err := Marshal(file.Entries)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse("out.yaml", out)
		if err != nil {
			t.Fatalf("Marshal wrote what Parse refuses: %v\n%s", err, out)
		}
		for i := range back.Entries {
			back.Entries[i].Line = file.Entries[i].Line
		}
		if !reflect.DeepEqual(back.Entries, file.Entries) {
			t.Fatalf("read back %+v\nwant %+v\nfrom:\n%s", back.Entries, file.Entries, out)
		}
	})
}
