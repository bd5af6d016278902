package httpx

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		keep   bool
	}{
		{name: "plain", header: "req-42_a.b:c", keep: true},
		{name: "64 characters", header: strings.Repeat("a", 64), keep: true},
		{name: "absent", header: ""},
		{name: "too long", header: strings.Repeat("a", 65)},
		{name: "space", header: "a b"},
		{name: "newline", header: "a\nlevel=ERROR"},
		{name: "quote", header: `a"b`},
		{name: "non-ASCII", header: "réq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header["X-Request-Id"] = []string{tt.header}
			}
			got := RequestID(r)
			if tt.keep {
				if got != tt.header {
					t.Errorf("requestID = %q, want %q", got, tt.header)
				}
				return
			}
			if got == tt.header || len(got) != 16 || !SaneRequestID(got) {
				t.Errorf("requestID = %q, want a new 16-character ID", got)
			}
		})
	}
}

// TestNewRequestID checks the generated IDs: sane, 16 hex characters, and
// distinct across many calls, from concurrent goroutines too.
func TestNewRequestID(t *testing.T) {
	t.Parallel()
	const workers, each = 8, 5000
	ids := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ids <- NewRequestID()
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := make(map[string]bool, workers*each)
	for id := range ids {
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" || !SaneRequestID(id) {
			t.Fatalf("NewRequestID() = %q, want 16 lowercase hex characters", id)
		}
		if seen[id] {
			t.Fatalf("NewRequestID() gave %q twice", id)
		}
		seen[id] = true
	}
}
