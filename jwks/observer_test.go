package jwks

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is an Observer that writes its events down.
type recorder struct {
	mu     sync.Mutex
	events []string
	errs   []error
}

func (r *recorder) add(ev string) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) Fetched(trigger Trigger, result string, err error) {
	if (err != nil) != (result == ResultError) {
		r.add(fmt.Sprintf("fetched %s %s with err %v", trigger, result, err))
		return
	}
	r.add(fmt.Sprintf("fetched %s %s", trigger, result))
}

func (r *recorder) Changed(st Status) {
	r.add(fmt.Sprintf("changed gen=%d usable=%v", st.Generation, st.Usable))
}

func (r *recorder) Unusable(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.add("unusable")
}

func (r *recorder) Recovered(outage time.Duration) { r.add(fmt.Sprintf("recovered after %v", outage)) }

// take returns the events so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func sameEvents(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

// TestObserverOutageOfFirstFetch: a cold start against a failing source is
// one outage, reported once, with recovery attempts, then one recovery
// with its length.
func TestObserverOutageOfFirstFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1 := testKey(t, "k1")
		src := newSource(t, fault500, "max-age=600", k1)
		rec := &recorder{}
		s, err := New(Config{URL: sourceURL, Client: src.client(), Observer: rec})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = s.Keys(t.Context(), k1.KeyID)
		var ue *UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrFetch) {
			t.Fatalf("err = %v, want an UnavailableError wrapping ErrUnavailable and ErrFetch", err)
		}
		if ue.RetryAfter < DefaultRetryInterval/2 || ue.RetryAfter > DefaultRetryInterval || !ue.NextAttempt.Equal(start.Add(ue.RetryAfter)) {
			t.Fatalf("RetryAfter %v, NextAttempt %v after the start", ue.RetryAfter, ue.NextAttempt.Sub(start))
		}
		st := s.Status()
		if st.Usable || !st.NextAttempt.Equal(ue.NextAttempt) {
			t.Fatalf("status %+v", st)
		}
		if err := s.Ready(); !errors.As(err, &ue) {
			t.Fatalf("Ready = %v", err)
		}
		// Before the next attempt is due, a lookup fails at once without
		// a fetch, and says how long to wait.
		time.Sleep(ue.RetryAfter / 2)
		_, err = s.Keys(t.Context(), k1.KeyID)
		if !errors.As(err, &ue) || ue.RetryAfter <= 0 || src.hits() != 1 {
			t.Fatalf("err = %v after %d fetches", err, src.hits())
		}
		time.Sleep(ue.RetryAfter)
		src.set(healthy)
		if !has(t, s, k1.KeyID) {
			t.Fatal("no key after recovery")
		}
		synctest.Wait()
		outage := time.Since(start)
		sameEvents(t, rec.take(),
			"fetched recovery error", "unusable",
			"fetched recovery ok", "changed gen=1 usable=true", fmt.Sprintf("recovered after %v", outage))
		if st := s.Status(); !st.Usable || !st.NextAttempt.IsZero() {
			t.Fatalf("status %+v", st)
		}
		if len(rec.errs) != 1 || !errors.Is(rec.errs[0], ErrUnavailable) {
			t.Fatalf("Unusable got %v", rec.errs)
		}
	})
}

// TestObserverStaleOutage: a held set that passes MaxStale while the source
// is down makes one outage, counted from the moment the set became
// unusable; Run's attempts carry their triggers.
func TestObserverStaleOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := testKey(t, "k1"), testKey(t, "k2")
		src := newSource(t, healthy, "max-age=60", k1)
		rec := &recorder{}
		const maxStale = 10 * time.Minute
		s, err := New(Config{URL: sourceURL, Client: src.client(), Observer: rec, MaxStale: maxStale})
		if err != nil {
			t.Fatal(err)
		}
		runSet(t, s)
		synctest.Wait()
		sameEvents(t, rec.take(), "fetched recovery ok", "changed gen=1 usable=true")
		start := time.Now()

		time.Sleep(48 * time.Second)
		synctest.Wait()
		// The same content again: no change.
		sameEvents(t, rec.take(), "fetched scheduled ok")

		src.set(faultDown)
		time.Sleep(maxStale)
		synctest.Wait()
		// Run retried with backoff: every fetch failed, none is a
		// recovery yet, and the set is still usable.
		for _, ev := range rec.take() {
			if ev != "fetched scheduled error" {
				t.Fatalf("event %q within max-stale", ev)
			}
		}
		if err := s.Ready(); err != nil {
			t.Fatal(err)
		}
		// Past MaxStale: one Unusable, then recovery attempts every second
		// at most.
		time.Sleep(50*time.Second + time.Millisecond)
		unusableAt := start.Add(48*time.Second + maxStale)
		synctest.Wait()
		ev := rec.take()
		if len(ev) < 10 || ev[0] != "fetched scheduled error" && ev[0] != "unusable" {
			t.Fatalf("events past max-stale %q", ev)
		}
		unusable := 0
		for _, e := range ev {
			switch e {
			case "unusable":
				unusable++
			case "fetched scheduled error", "fetched recovery error":
			default:
				t.Fatalf("event %q during the outage", e)
			}
		}
		if unusable != 1 {
			t.Fatalf("%d Unusable events", unusable)
		}
		src.set(healthy)
		src.publish(k1, k2)
		time.Sleep(DefaultRetryInterval)
		synctest.Wait()
		ev = rec.take()
		if len(ev) != 3 || ev[0] != "fetched recovery ok" || ev[1] != "changed gen=2 usable=true" {
			t.Fatalf("events at recovery %q", ev)
		}
		outage, err := time.ParseDuration(strings.TrimPrefix(ev[2], "recovered after "))
		if err != nil {
			t.Fatalf("event %q", ev[2])
		}
		if want := time.Since(unusableAt); outage < want-DefaultRetryInterval || outage > want {
			t.Fatalf("outage %v, want about %v", outage, want)
		}
	})
}
