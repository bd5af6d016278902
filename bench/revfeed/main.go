// Command revfeed is the load program of bench/revocations.sh: it follows
// the revocation feed of one or more "keyward serve" processes with many
// simulated verifiers, makes revocations, and reports how long each took to
// reach every verifier, with the issuers' CPU time and memory.
//
//	revfeed -targets URL[,URL...] -password P [-verifiers 1000] [-count 25]
//	    [-revoke URL] [-interval 300ms] [-idle 5s] [-pids PID[,PID...]] [-label NAME]
//
// Each verifier is a verifier.RevocationList, the one keyward gate and Go
// services use, running its long-poll loop (GET
// /revocations?since=C&wait=20) against the targets in turn (verifier i
// follows target i mod n); they share one HTTP client whose transport keeps
// a connection per verifier. Users rev01..revNN (-count) exist with
// -password; each logs in once (a refresh-token family of its own, so no
// user reaches the per-user coalescing limit). Once every verifier holds
// the feed, the connections are held for -idle to measure the issuers at
// rest, then each user's refresh token is revoked (POST /revoke on -revoke,
// the first target by default), one every -interval. A revocation is
// observed by a verifier when its list, after a fetch, refuses that user's
// access token (RevocationList.Check fails with verifier.ErrRevoked): the
// latency runs from just before the /revoke request is sent, so it includes
// the revocation's own round trip. The issuers' CPU time (utime + stime of
// /proc/PID/stat, at 100 ticks a second) is read over the idle phase and
// over the revocation phase, and their peak and current resident memory
// (VmHWM, VmRSS of /proc/PID/status) at the end.
//
// It exits 1 when a revocation fails or some verifier has not observed
// every revocation within -deadline of the last one.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/bench/internal/loopback"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

type config struct {
	targets   []string
	revoke    string
	password  string
	verifiers int
	count     int
	interval  time.Duration
	idle      time.Duration
	deadline  time.Duration
	pids      []int
	label     string
}

func main() {
	var c config
	var targets, pids string
	flag.StringVar(&targets, "targets", "", "comma-separated base URLs of the issuers the verifiers follow")
	flag.StringVar(&c.revoke, "revoke", "", "base URL of the issuer the revocations are made on (default: the first target)")
	flag.StringVar(&c.password, "password", "", "password of the users rev01..revNN")
	flag.IntVar(&c.verifiers, "verifiers", 1000, "simulated verifiers, one long-poll each")
	flag.IntVar(&c.count, "count", 25, "revocations, one per user rev01..revNN (at most 30: the issuer throttles logins from one address past it)")
	flag.DurationVar(&c.interval, "interval", 300*time.Millisecond, "time between revocations")
	flag.DurationVar(&c.idle, "idle", 5*time.Second, "time the long-polls are held before the first revocation")
	flag.DurationVar(&c.deadline, "deadline", 30*time.Second, "how long after the last revocation every verifier must have observed all")
	flag.StringVar(&pids, "pids", "", "comma-separated process IDs of the issuers, for their CPU time and memory")
	flag.StringVar(&c.label, "label", "", "name of the run in the report")
	flag.Parse()
	if targets == "" || c.password == "" || c.verifiers <= 0 || c.count <= 0 || c.count > 99 {
		fmt.Fprintln(os.Stderr, "revfeed: -targets and -password are required; -verifiers > 0; -count in 1..99")
		os.Exit(2)
	}
	c.targets = strings.Split(targets, ",")
	if c.revoke == "" {
		c.revoke = c.targets[0]
	}
	for _, p := range strings.Split(pids, ",") {
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "revfeed: -pids: %v\n", err)
			os.Exit(2)
		}
		c.pids = append(c.pids, n)
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintf(os.Stderr, "revfeed: %v\n", err)
		os.Exit(1)
	}
}

// follower is one simulated verifier.
type follower struct {
	list   *verifier.RevocationList
	next   int // the first revocation not yet observed; touched by Loaded only
	ready  atomic.Bool
	r      *shared
	loaded chan struct{} // closed at the first good fetch
}

// shared is the state the followers share.
type shared struct {
	c       config
	claims  []*jose.Claims
	sent    []atomic.Int64 // when each revocation's request was sent, UnixNano
	issued  atomic.Int64   // revocations sent so far
	mu      sync.Mutex
	lat     []time.Duration
	fetches atomic.Int64
	errs    atomic.Int64
}

// Fetched implements verifier.RevocationObserver.
func (f *follower) Fetched(result string, err error) {
	f.r.fetches.Add(1)
	if err != nil {
		f.r.errs.Add(1)
	}
}

// Loaded implements verifier.RevocationObserver: it records the
// revocations the list now refuses, in order.
func (f *follower) Loaded(verifier.RevocationStatus) {
	if f.ready.CompareAndSwap(false, true) {
		close(f.loaded)
	}
	now := time.Now()
	for issued := int(f.r.issued.Load()); f.next < issued; f.next++ {
		if !errors.Is(f.list.Check(f.r.claims[f.next]), verifier.ErrRevoked) {
			return
		}
		d := now.Sub(time.Unix(0, f.r.sent[f.next].Load()))
		f.r.mu.Lock()
		f.r.lat = append(f.r.lat, d)
		f.r.mu.Unlock()
	}
}

// Unavailable implements verifier.RevocationObserver.
func (f *follower) Unavailable(error) {}

// Recovered implements verifier.RevocationObserver.
func (f *follower) Recovered(time.Duration, verifier.RevocationStatus) {}

func run(ctx context.Context, c config) error {
	// The verifiers' connections come from loopback.Sources addresses: the
	// issuer holds at most --revocation-waiters-per-client (64) long-polls
	// of one client address, as it would of one host, and 1 000 verifiers
	// stand for many hosts.
	transport := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: c.verifiers + 16, IdleConnTimeout: 2 * time.Minute,
		DialContext: loopback.SpreadDialer()}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	r := &shared{c: c, claims: make([]*jose.Claims, c.count), sent: make([]atomic.Int64, c.count)}
	refresh := make([]string, c.count)
	for k := range c.count {
		access, rt, err := login(ctx, client, c.revoke, fmt.Sprintf("rev%02d", k+1), c.password)
		if err != nil {
			return err
		}
		jws, err := jose.Parse(access)
		if err != nil {
			return err
		}
		if r.claims[k], err = jose.ParseClaims(jws.UnsafePayload()); err != nil {
			return err
		}
		refresh[k] = rt
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	followers := make([]*follower, c.verifiers)
	start := time.Now()
	for i := range followers {
		f := &follower{r: r, loaded: make(chan struct{})}
		list, err := verifier.NewRevocationList(verifier.RevocationConfig{
			URL: c.targets[i%len(c.targets)] + "/revocations", Client: client, Every: 2 * time.Second, Observer: f,
		})
		if err != nil {
			return err
		}
		f.list = list
		followers[i] = f
		wg.Go(func() { list.Run(ctx) })
	}
	for _, f := range followers {
		select {
		case <-f.loaded:
		case <-time.After(60 * time.Second):
			return errors.New("not every verifier fetched the feed within 60 s")
		}
	}
	fmt.Printf("%s: %d verifiers on %d issuer(s) hold the feed after %v\n", c.label, c.verifiers, len(c.targets), time.Since(start).Round(time.Millisecond))

	cpu0 := cpuTimes(c.pids)
	time.Sleep(c.idle)
	cpu1 := cpuTimes(c.pids)
	fetches0 := r.fetches.Load()
	for k := range c.count {
		r.sent[k].Store(time.Now().UnixNano())
		r.issued.Store(int64(k + 1))
		if err := revoke(ctx, client, c.revoke, refresh[k]); err != nil {
			return err
		}
		time.Sleep(c.interval)
	}
	want := c.verifiers * c.count
	for deadline := time.Now().Add(c.deadline); ; {
		r.mu.Lock()
		n := len(r.lat)
		r.mu.Unlock()
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d observations within %v of the last revocation", n, want, c.deadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu2 := cpuTimes(c.pids)
	fetches := r.fetches.Load() - fetches0

	r.mu.Lock()
	lat := slices.Clone(r.lat)
	r.mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("%s: %d revocations x %d verifiers = %d observations: p50 %v, p90 %v, p99 %v, max %v\n",
		c.label, c.count, c.verifiers, len(lat), pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	fmt.Printf("%s: %d feed requests during the revocations (%.1f per verifier and revocation), %d failed fetches in all\n",
		c.label, fetches, float64(fetches)/float64(want), r.errs.Load())
	for i, pid := range c.pids {
		hwm, rss := memory(pid)
		fmt.Printf("%s: issuer pid %d: CPU %.2f s over %v held idle, %.2f s over the %d revocations (%v); peak RSS %d MiB, RSS %d MiB\n",
			c.label, pid, cpu1[i]-cpu0[i], c.idle, cpu2[i]-cpu1[i], c.count, (time.Duration(c.count) * c.interval).Round(time.Second),
			hwm>>10, rss>>10)
	}
	return nil
}

// login logs a user in on the issuer and returns the access and refresh
// tokens.
func login(ctx context.Context, client *http.Client, base, user, password string) (string, string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("login %s: %s %s", user, resp.Status, b)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		return "", "", err
	}
	return tok.AccessToken, tok.RefreshToken, nil
}

// revoke revokes a refresh token (RFC 7009), with its family.
func revoke(ctx context.Context, client *http.Client, base, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<12))
		return fmt.Errorf("revoke: %s %s", resp.Status, b)
	}
	return nil
}

// cpuTimes returns the CPU seconds (user + system) each process has used.
func cpuTimes(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses.
		_, rest, ok := strings.Cut(string(b), ") ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (u + s) / 100
	}
	return out
}

// memory returns the peak and current resident memory of a process, in
// KiB.
func memory(pid int) (hwm, rss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}
