package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// requestIDHandler adds request_id from RequestID to every line logged
// with a request's context that does not name it, as keyward serve's log
// handler does.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	named := false
	r.Attrs(func(a slog.Attr) bool {
		named = a.Key == "request_id"
		return !named
	})
	if id := RequestID(ctx); id != "" && !named {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// TestRequestID checks that RequestID gives a log handler the ID of the
// request whose context a line is logged with, the issuer's audit lines
// included: the client's X-Request-Id when it is sane, else the one the
// server made up and answered in X-Request-Id.
func TestRequestID(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{logHandler: func(h slog.Handler) slog.Handler { return requestIDHandler{h} }})
	st.addUser(t, "alice", "alice-password-1")
	if got := RequestID(t.Context()); got != "" {
		t.Errorf("RequestID outside a request = %q, want empty", got)
	}
	login := func(id string) string {
		t.Helper()
		resp, b := st.do(t, http.MethodPost, "/login", mediaJSON, strings.NewReader(`{"username":"alice","password":"alice-password-1"}`),
			func(r *http.Request) {
				if id != "" {
					r.Header.Set("X-Request-Id", id)
				}
			})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d %s", resp.StatusCode, b)
		}
		return resp.Header.Get("X-Request-Id")
	}
	for _, sent := range []string{"client-req-1", "", "bad id with spaces"} {
		id := login(sent)
		if id == "" || sent != "" && !strings.Contains(sent, " ") && id != sent {
			t.Errorf("X-Request-Id sent %q, answered %q", sent, id)
		}
		found := false
		for line := range strings.Lines(st.logs.String()) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if rec["msg"] == "login_succeeded" && rec["request_id"] == id {
				found = true
			}
		}
		if !found {
			t.Errorf("no login_succeeded line with request_id %q in:\n%s", id, st.logs)
		}
	}
}
