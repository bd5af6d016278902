package verifier

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestRevocationListDelta follows an issuer that answers with cursors: the
// full state at first, changes applied over it, answers that say more
// followed at once, a full state that replaces everything when the cursor
// was compacted away, and the caller's query kept.
func TestRevocationListDelta(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		answers map[string]string // since → body
		asked   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		since := r.URL.Query().Get("since")
		asked = append(asked, since)
		if r.URL.Query().Get("tenant") != "a" || r.Header.Get("If-None-Match") != "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		body, ok := answers[since]
		if !ok {
			http.Error(w, "no answer", http.StatusTeapot)
			return
		}
		w.Header().Set("ETag", `"e"`)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	set := func(a map[string]string) {
		mu.Lock()
		answers, asked = a, nil
		mu.Unlock()
	}
	c := newClock()
	list := newList(t, srv.URL+"/revocations?tenant=a", c, 0)
	refresh := func(wantAsked ...string) {
		t.Helper()
		if err := list.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != len(wantAsked) {
			t.Fatalf("asked since %q, want %q", asked, wantAsked)
		}
		for i := range asked {
			if asked[i] != wantAsked[i] {
				t.Fatalf("asked since %q, want %q", asked, wantAsked)
			}
		}
	}
	status := func(tokens, sessions, families, users int) {
		t.Helper()
		if st := list.Status(); st.Tokens != tokens || st.Sessions != sessions || st.Families != families || st.Users != users {
			t.Fatalf("Status = %+v, want %d tokens, %d sessions, %d families, %d users", st, tokens, sessions, families, users)
		}
	}

	set(map[string]string{"0": `{"cursor":"3","full":true,"tokens":[{"jti":"a","exp":0}],"families":[{"fid":"f1","exp":0}],"sessions":[],"users":[]}`})
	refresh("0")
	status(1, 0, 1, 0)

	set(map[string]string{"3": `{"cursor":"4","tokens":[],"sessions":[{"sid":"s1","exp":0}],"families":[],"users":[]}`})
	refresh("3")
	status(1, 1, 1, 0)

	set(map[string]string{
		"4": `{"cursor":"5","more":true,"users":[{"sub":"u","before":5}]}`,
		"5": `{"cursor":"6","families":[{"fid":"f2","exp":0}]}`,
	})
	refresh("4", "5")
	status(1, 1, 2, 1)
	for _, tc := range []struct {
		name  string
		extra map[string]any
	}{{"session", map[string]any{"sid": "s1"}}, {"family", map[string]any{"fid": "f2"}}, {"first family", map[string]any{"fid": "f1"}}} {
		cl := claims()
		cl.ID = "other"
		cl.Extra = tc.extra
		if err := list.Check(cl); !errors.Is(err, ErrRevoked) {
			t.Errorf("Check(%s) = %v, want ErrRevoked", tc.name, err)
		}
	}

	// The cursor was compacted away: the full state replaces what is held.
	set(map[string]string{"6": `{"cursor":"9","full":true,"tokens":[{"jti":"b","exp":0}],"sessions":[],"families":[],"users":[]}`})
	refresh("6")
	status(1, 0, 0, 0)
	cl := claims()
	cl.ID, cl.Extra = "a", map[string]any{"fid": "f1"}
	if err := list.Check(cl); err != nil {
		t.Errorf("Check(an entry the full state dropped) = %v, want nil", err)
	}

	// A malformed answer keeps the list and the cursor.
	set(map[string]string{"9": `{"cursor":"x1","tokens":[]}`})
	if err := list.Refresh(t.Context()); !errors.Is(err, ErrRevocationFeed) {
		t.Fatalf("a malformed cursor: %v, want ErrRevocationFeed", err)
	}
	set(map[string]string{"9": `{"cursor":"10","tokens":[{"jti":"c","exp":0}]}`})
	refresh("9")
	status(2, 0, 0, 0)
}

// TestRevocationListDeltaWithoutState refuses changes answered to a list
// that holds no state yet.
func TestRevocationListDeltaWithoutState(t *testing.T) {
	t.Parallel()
	_, srv := newFeed(t, `{"cursor":"4","tokens":[{"jti":"a","exp":0}]}`)
	list := newList(t, srv.URL, newClock(), 0)
	if err := list.Refresh(t.Context()); !errors.Is(err, ErrRevocationFeed) {
		t.Fatalf("changes without a state: %v, want ErrRevocationFeed", err)
	}
	if st := list.Status(); st.Tokens != 0 || !st.FetchedAt.IsZero() {
		t.Errorf("Status = %+v, want nothing loaded", st)
	}
}
