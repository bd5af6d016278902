// Command replicasload is the load generator of bench/replicas.sh. It drives
// one or more "keyward serve" processes that share a store and reports
// refresh-token rotations per second and client_credentials tokens per
// second; afterwards it counts the refresh tokens in the database to show
// that none was lost and none was spent twice.
//
//	replicasload -targets URL[,URL...] -db DSN -users N -password P \
//	    -client-id ID -client-secret-file FILE [-duration 10s] [-workers 16] [-races 40]
//
// The users are load1 to loadN, without leading zeros. The issuer throttles
// refreshes per refresh-token family (10 at once, then one a minute) and
// per user (30 at once, then one every 10 s), as an honest client never
// refreshes faster than its access tokens expire; so the load is what many
// users make, not what a few make in a loop. Before the refresh phase each
// user logs in -families-per-user times, each login a new family; the
// workers then share the families out and refresh each -family-refreshes
// times, each refresh sent to the next target in turn, so that every
// rotation on a family crosses replicas. The phase ends when every family
// has had its refreshes or after -duration, whichever comes first. Logins
// dial from loopback addresses 127.0.0.2 to 127.0.0.33 in turn, each on
// a new connection, so that the login throttle of one client address (30
// at once, then one a second) sees many clients. The race phase logs in
// once more per race and sends the same refresh token to two targets at
// the same moment: exactly one must succeed. The client_credentials phase
// then runs for -duration. Finally it reads refresh_tokens from the
// database (PostgreSQL or SQLite) and checks:
//
//	rotated rows (used_at set)  = successful refreshes
//	rows                        = logins + successful refreshes
//	revoked families            = races (each race's loser is a reuse)
//	each worker's last token    still refreshes (nothing was lost)
//
// It exits 1 when a check fails.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/bench/internal/loopback"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"
)

type config struct {
	targets      []string
	db           string
	users        int
	password     string
	clientID     string
	clientSecret string
	duration     time.Duration
	workers      int
	races        int
	label        string
	// familiesPerUser and familyRefreshes shape the refresh phase: each
	// user's families and each family's timed refreshes.
	familiesPerUser int
	familyRefreshes int
}

// The issuer's default token throttle (issuer.TokenThrottleConfig): a
// family refreshes familyBurst times at once, a user's first-party tokens
// userBurst times.
const (
	familyBurst = 10
	userBurst   = 30
)

func main() {
	var (
		c          config
		targets    string
		secretFile string
	)
	flag.StringVar(&targets, "targets", "", "comma-separated base URLs of the replicas")
	flag.StringVar(&c.db, "db", "", "the store: postgres://... or sqlite:PATH")
	flag.IntVar(&c.users, "users", 16, "users load1..loadN exist with -password")
	flag.StringVar(&c.password, "password", "", "password of the load users")
	flag.StringVar(&c.clientID, "client-id", "", "client_credentials client")
	flag.StringVar(&secretFile, "client-secret-file", "", "file holding the client's secret")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each timed phase")
	flag.IntVar(&c.workers, "workers", 16, "concurrent requests (at most -users for the refresh phase)")
	flag.IntVar(&c.races, "races", 40, "refresh tokens sent to two replicas at once")
	flag.StringVar(&c.label, "label", "", "name of the run in the report")
	flag.IntVar(&c.familiesPerUser, "families-per-user", 2, "refresh-token families of each user in the refresh phase")
	flag.IntVar(&c.familyRefreshes, "family-refreshes", familyBurst-1, "timed refreshes of each family (one more is kept for the final check)")
	flag.Parse()
	c.targets = strings.Split(targets, ",")
	if targets == "" || c.db == "" || c.password == "" || c.clientID == "" || secretFile == "" {
		fmt.Fprintln(os.Stderr, "replicasload: -targets, -db, -password, -client-id and -client-secret-file are required")
		os.Exit(2)
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicasload:", err)
		os.Exit(2)
	}
	c.clientSecret = strings.TrimSpace(string(secret))
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "replicasload:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "replicasload:", err)
		os.Exit(1)
	}
}

// check refuses a run that the issuer's default token throttle would
// answer with slow_down: a family refreshed more than its burst, or a user
// whose families and races take more than the user's burst (each race is
// two refreshes of one new family).
func (c config) check() error {
	if c.users < 1 || c.workers < 1 || c.familiesPerUser < 1 || c.familyRefreshes < 1 || c.races < 0 {
		return errors.New("-users, -workers, -families-per-user and -family-refreshes must be at least 1, -races at least 0")
	}
	if c.familyRefreshes+1 > familyBurst {
		return fmt.Errorf("-family-refreshes %d: a family refreshes at most %d times at once, one of them in the final check", c.familyRefreshes, familyBurst)
	}
	racesPerUser := (c.races + c.users - 1) / c.users
	if need := c.familiesPerUser*(c.familyRefreshes+1) + 2*racesPerUser; need > userBurst {
		return fmt.Errorf("each user would refresh %d times, over the %d a user may at once: give more -users or fewer -families-per-user or -races", need, userBurst)
	}
	return nil
}

// transport is shared by the run's token requests: keep-alive connections
// to every target, enough idle ones for all workers, dialled from several
// loopback addresses.
var transport = &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, DialContext: loopback.SpreadDialer()}

// loginTransport opens a connection per login, each from the next loopback
// address, so that the logins spread over loopback.Sources client addresses.
var loginTransport = &http.Transport{DisableKeepAlives: true, DialContext: loopback.SpreadDialer()}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func post(ctx context.Context, hc *http.Client, u string, body io.Reader, ctype string, auth func(*http.Request)) (int, tokenResponse, error) {
	var tr tokenResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return 0, tr, err
	}
	req.Header.Set("Content-Type", ctype)
	if auth != nil {
		auth(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, tr, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, tr, err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &tr); err != nil {
			return 0, tr, err
		}
	}
	return resp.StatusCode, tr, nil
}

func login(ctx context.Context, hc *http.Client, target, user, password string) (tokenResponse, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	code, tr, err := post(ctx, hc, target+"/login", strings.NewReader(string(body)), "application/json", nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("login %s at %s: HTTP %d", user, target, code)
	}
	return tr, err
}

func refresh(ctx context.Context, hc *http.Client, target, token string) (int, tokenResponse, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	return post(ctx, hc, target+"/token", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", nil)
}

func run(ctx context.Context, c config) error {
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	lc := &http.Client{Transport: loginTransport, Timeout: 10 * time.Second}
	logins := 0

	// The families of the refresh phase, logged in at alternating targets
	// by the workers at once.
	chains := make([]string, c.users*c.familiesPerUser)
	{
		var (
			next    atomic.Int64
			mu      sync.Mutex
			loginWG sync.WaitGroup
			errs    []error
		)
		for range c.workers {
			loginWG.Go(func() {
				for f := int(next.Add(1) - 1); f < len(chains); f = int(next.Add(1) - 1) {
					tr, err := login(ctx, lc, c.targets[f%len(c.targets)], fmt.Sprintf("load%d", f%c.users+1), c.password)
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					chains[f] = tr.RefreshToken
				}
			})
		}
		loginWG.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		logins += len(chains)
	}

	// Refresh phase: the workers take the families in turn and refresh
	// each familyRefreshes times, alternating targets.
	var (
		nextFamily atomic.Int64
		refreshed  atomic.Int64
		failures   atomic.Int64
		firstErr   error
		errOnce    sync.Once
		wg         sync.WaitGroup
	)
	deadline := time.Now().Add(c.duration)
	start := time.Now()
	for range c.workers {
		wg.Go(func() {
			for i := int(nextFamily.Add(1) - 1); i < len(chains); i = int(nextFamily.Add(1) - 1) {
				for n := i; n < i+c.familyRefreshes && time.Now().Before(deadline); n++ {
					code, tr, err := refresh(ctx, hc, c.targets[n%len(c.targets)], chains[i])
					if err == nil && code != http.StatusOK {
						err = fmt.Errorf("refresh: HTTP %d", code)
					}
					if err != nil {
						failures.Add(1)
						errOnce.Do(func() { firstErr = err })
						return // the chain is broken; a lost token shows in the counts
					}
					refreshed.Add(1)
					chains[i] = tr.RefreshToken
				}
			}
		})
	}
	wg.Wait()
	refreshElapsed := time.Since(start)
	loadRefreshes := refreshed.Load()

	// Race phase: one token, two targets, same moment.
	raceWins, raceOther := 0, 0
	if len(c.targets) >= 2 {
		for r := range c.races {
			user := fmt.Sprintf("load%d", r%c.users+1)
			tr, err := login(ctx, lc, c.targets[r%len(c.targets)], user, c.password)
			for try := 0; err != nil && try < 10; try++ {
				// The login throttle of the replica: wait for its bucket.
				time.Sleep(1100 * time.Millisecond)
				tr, err = login(ctx, lc, c.targets[r%len(c.targets)], user, c.password)
			}
			if err != nil {
				return err
			}
			logins++
			var codes [2]int
			var rwg sync.WaitGroup
			gate := make(chan struct{})
			for k := range 2 {
				rwg.Go(func() {
					<-gate
					codes[k], _, _ = refresh(ctx, hc, c.targets[k], tr.RefreshToken)
				})
			}
			close(gate)
			rwg.Wait()
			for _, code := range codes {
				switch code {
				case http.StatusOK:
					raceWins++
				case http.StatusBadRequest:
				default:
					raceOther++
				}
			}
		}
	}

	// client_credentials phase.
	var issued atomic.Int64
	deadline = time.Now().Add(c.duration)
	start = time.Now()
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	auth := func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(c.clientID), url.QueryEscape(c.clientSecret)) }
	for w := range c.workers {
		wg.Go(func() {
			for n := w; time.Now().Before(deadline); n++ {
				code, _, err := post(ctx, hc, c.targets[n%len(c.targets)]+"/token", strings.NewReader(form), "application/x-www-form-urlencoded", auth)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("client_credentials: HTTP %d", code)
				}
				if err != nil {
					failures.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				issued.Add(1)
			}
		})
	}
	wg.Wait()
	ccElapsed := time.Since(start)

	// Every chain's last token must still refresh: nothing was lost.
	lost := 0
	for i, tok := range chains {
		code, _, err := refresh(ctx, hc, c.targets[i%len(c.targets)], tok)
		if err != nil || code != http.StatusOK {
			lost++
		} else {
			refreshed.Add(1)
		}
	}

	counts, err := countTokens(ctx, c.db)
	if err != nil {
		return err
	}
	successes := refreshed.Load() + int64(raceWins)
	fmt.Printf("%s: %d replica(s), %d workers, %v per phase at most\n", c.label, len(c.targets), c.workers, c.duration)
	fmt.Printf("  refreshes/s                 %8.0f  (%d in %v, %d families of %d users)\n", float64(loadRefreshes)/refreshElapsed.Seconds(), loadRefreshes,
		refreshElapsed.Round(time.Millisecond), len(chains), c.users)
	fmt.Printf("  client_credentials tokens/s %8.0f  (%d in %v)\n", float64(issued.Load())/ccElapsed.Seconds(), issued.Load(), ccElapsed.Round(time.Millisecond))
	fmt.Printf("  races: %d tokens sent to two replicas at once, %d successes, %d other answers\n", c.races*boolInt(len(c.targets) >= 2), raceWins, raceOther)
	fmt.Printf("  database: %d refresh tokens, %d rotated, %d revoked families; client: %d logins, %d successful refreshes\n",
		counts.rows, counts.used, counts.revokedFamilies, logins, successes)
	var problems []string
	if failures.Load() > 0 {
		problems = append(problems, fmt.Sprintf("%d failed requests (first: %v)", failures.Load(), firstErr))
	}
	if counts.used != successes {
		problems = append(problems, fmt.Sprintf("rotated rows %d != successful refreshes %d", counts.used, successes))
	}
	if counts.rows != int64(logins)+successes {
		problems = append(problems, fmt.Sprintf("rows %d != logins %d + refreshes %d", counts.rows, logins, successes))
	}
	if len(c.targets) >= 2 {
		if raceWins != c.races || raceOther != 0 {
			problems = append(problems, fmt.Sprintf("%d of %d races had exactly one winner", raceWins, c.races))
		}
		if counts.revokedFamilies != int64(c.races) {
			problems = append(problems, fmt.Sprintf("revoked families %d != races %d", counts.revokedFamilies, c.races))
		}
	}
	fmt.Printf("  lost refresh tokens %d, double-spent %d\n", lost, max(0, successes-counts.used))
	if lost > 0 {
		problems = append(problems, fmt.Sprintf("%d lost refresh tokens", lost))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type tokenCounts struct{ rows, used, revokedFamilies int64 }

const countSQL = `SELECT
	(SELECT count(*) FROM refresh_tokens),
	(SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL),
	(SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE revoked_at IS NOT NULL)`

// countTokens reads the refresh-token counts from the store's database.
func countTokens(ctx context.Context, dsn string) (tokenCounts, error) {
	var n tokenCounts
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return n, err
		}
		defer conn.Close(ctx)
		err = conn.QueryRow(ctx, countSQL).Scan(&n.rows, &n.used, &n.revokedFamilies)
		return n, err
	case strings.HasPrefix(dsn, "sqlite:"):
		db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			return n, err
		}
		defer db.Close()
		err = db.QueryRowContext(ctx, countSQL).Scan(&n.rows, &n.used, &n.revokedFamilies)
		return n, err
	}
	return n, fmt.Errorf("-db %q: want postgres://... or sqlite:PATH", dsn)
}
