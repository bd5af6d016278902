package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// newIDs returns a generator seeded with seed, so that tests do not depend
// on the system's random source.
func newIDs(t *testing.T, seed byte) *RequestIDs {
	t.Helper()
	g, err := NewRequestIDs(bytes.NewReader(bytes.Repeat([]byte{seed}, 8)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFromRequest(t *testing.T) {
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
	g := newIDs(t, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header["X-Request-Id"] = []string{tt.header}
			}
			for name, got := range map[string]string{"FromRequest": g.FromRequest(r), "RequestID": RequestID(r)} {
				if tt.keep {
					if got != tt.header {
						t.Errorf("%s = %q, want %q", name, got, tt.header)
					}
					continue
				}
				if got == tt.header || len(got) != 16 || !SaneRequestID(got) {
					t.Errorf("%s = %q, want a new 16-character ID", name, got)
				}
			}
		})
	}
}

// TestRequestIDsNew checks the generated IDs: sane, 16 hex characters, and
// distinct across many calls, from concurrent goroutines too.
func TestRequestIDsNew(t *testing.T) {
	t.Parallel()
	g := newIDs(t, 2)
	const workers, each = 8, 5000
	ids := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ids <- g.New()
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := make(map[string]bool, workers*each)
	for id := range ids {
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" || !SaneRequestID(id) {
			t.Fatalf("New() = %q, want 16 lowercase hex characters", id)
		}
		if seen[id] {
			t.Fatalf("New() gave %q twice", id)
		}
		seen[id] = true
	}
}

// TestRequestIDsSeeded: generators hold their own state, so two with
// different seeds (two processes) start apart and one generator does not
// move another's count.
func TestRequestIDsSeeded(t *testing.T) {
	t.Parallel()
	a, b, a2 := newIDs(t, 3), newIDs(t, 4), newIDs(t, 3)
	if x, y := a.New(), b.New(); x == y {
		t.Errorf("generators with different seeds both gave %q first", x)
	}
	if x, y := a.New(), a2.New(); x == y {
		t.Errorf("the second ID of a generator equals the first of another with the same seed: %q", x)
	}
	if _, err := NewRequestIDs(iotest.ErrReader(io.ErrUnexpectedEOF)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewRequestIDs with a failing source: err = %v", err)
	}
	if _, err := NewRequestIDs(nil); err != nil {
		t.Errorf("NewRequestIDs(nil): %v", err)
	}
}

// TestRequestIDContext: the ID stays readable through the contexts a
// handler derives from the request's, and other keys pass through.
func TestRequestIDContext(t *testing.T) {
	t.Parallel()
	type otherKey struct{}
	base := context.WithValue(t.Context(), otherKey{}, "outer")
	ctx := WithRequestID(base, "req-9")
	cancelled, cancel := context.WithCancel(ctx)
	defer cancel()
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"none", t.Context(), ""},
		{"replaced", WithRequestID(ctx, "req-10"), "req-10"},
		{"parent only", base, ""},
		{"direct", ctx, "req-9"},
		{"under a value", context.WithValue(ctx, otherKey{}, "inner"), "req-9"},
		{"under a cancel", cancelled, "req-9"},
	}
	for _, tt := range tests {
		if got := RequestIDFrom(tt.ctx); got != tt.want {
			t.Errorf("%s: RequestID = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := ctx.Value(otherKey{}); got != "outer" {
		t.Errorf("the parent's value = %v, want outer", got)
	}
	cancel()
	if cancelled.Err() == nil {
		t.Error("cancel did not reach the derived context")
	}
}

// TestObserve: the state of an observed request carries its ID in its
// context, passes the parent's values and cancellation on, and records the
// status the handler answered with.
func TestObserve(t *testing.T) {
	t.Parallel()
	type otherKey struct{}
	tests := []struct {
		name       string
		handler    func(w http.ResponseWriter)
		wantStatus int
	}{
		{"nothing written", func(http.ResponseWriter) {}, http.StatusOK},
		{"implicit 200", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		{"first status kept", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); w.WriteHeader(http.StatusOK) }, http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancel(context.WithValue(t.Context(), otherKey{}, "outer"))
			rec := httptest.NewRecorder()
			o := Observe(parent, rec, "req-7")
			ctx := o.Context()
			if got := RequestIDFrom(ctx); got != "req-7" {
				t.Errorf("RequestIDFrom = %q, want req-7", got)
			}
			if got := ctx.Value(otherKey{}); got != "outer" {
				t.Errorf("the parent's value = %v, want outer", got)
			}
			if h := o.IDHeader(); len(h) != 1 || h[0] != "req-7" {
				t.Errorf("IDHeader = %q, want [req-7]", h)
			}
			tt.handler(o)
			if got := o.Status(); got != tt.wantStatus {
				t.Errorf("Status = %d, want %d", got, tt.wantStatus)
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("the underlying writer got %d, want %d", rec.Code, tt.wantStatus)
			}
			cancel()
			if ctx.Err() == nil {
				t.Error("cancel did not reach the request's context")
			}
		})
	}
}

// TestNewServer: every profile sets the four timeouts and the header cap.
func TestNewServer(t *testing.T) {
	t.Parallel()
	for _, p := range []Profile{ProfileAPI, ProfileProxy, Profile(99)} {
		srv := NewServer(nil, nil, p)
		if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
			t.Errorf("profile %d leaves a limit unset: %+v", p, srv)
		}
	}
	if a, p := NewServer(nil, nil, ProfileAPI), NewServer(nil, nil, ProfileProxy); a.WriteTimeout >= p.WriteTimeout {
		t.Errorf("the proxy profile's write timeout %v is not longer than the API's %v", p.WriteTimeout, a.WriteTimeout)
	}
}

// TestObserveAllocations: an observed request's state is one allocation; it
// is made for every request.
func TestObserveAllocations(t *testing.T) {
	ctx := t.Context()
	w := httptest.NewRecorder()
	var o *Observed // kept outside, as a handler's is, so that it escapes
	if got := testing.AllocsPerRun(1000, func() { o = Observe(ctx, w, "req-7") }); got != 1 {
		t.Errorf("%v allocations, want 1", got)
	}
	if RequestIDFrom(o.Context()) != "req-7" {
		t.Error("the last state lost its request ID")
	}
}
