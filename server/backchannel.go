package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// The outcomes of a back-channel logout attempt, as [BackchannelObserver]
// counts them.
const (
	// BackchannelDelivered means that the client answered 200 or 204.
	BackchannelDelivered = "delivered"
	// BackchannelRetried means a network error, a timeout or a 5xx; the
	// logout is tried again later.
	BackchannelRetried = "retried"
	// BackchannelFailed means that the client refused the logout token (a 4xx, a
	// redirect, any other status), or the last attempt failed; the logout
	// is given up.
	BackchannelFailed = "failed"
	// BackchannelDropped means that the client was deleted or no longer takes
	// back-channel logouts ([issuer.ErrNoBackchannel]).
	BackchannelDropped = "dropped"
)

// BackchannelObserver counts back-channel logout attempts by outcome, for
// metrics. Its method must be safe for concurrent use and fast.
type BackchannelObserver interface {
	BackchannelLogout(outcome string)
}

// BackchannelTimeout bounds one delivery of a logout token, from the
// connection to the end of the answer read.
const BackchannelTimeout = 5 * time.Second

// backchannelMaxBody is how much of a client's answer is read: its status
// is all that matters, the rest is drained so the connection can be reused.
const backchannelMaxBody = 4 << 10

// BackchannelConfig configures a [Backchannel].
type BackchannelConfig struct {
	// Issuer signs the logout tokens. Required.
	Issuer *issuer.Issuer
	// Store holds the outbox of logouts to deliver. Required.
	Store keyward.BackchannelStore
	// Client posts the logout tokens. Nil means [NewBackchannelClient].
	// It must follow no redirect: the URI is the one the client
	// registered, and a redirect could send the token anywhere.
	Client *http.Client
	// Logger receives a line per failed attempt. Nil means none.
	Logger *slog.Logger
	// Observer counts the attempts by outcome. Nil means none.
	Observer BackchannelObserver
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Workers bounds the deliveries in flight at once, and the logouts
	// claimed from the outbox at a time. Zero means 4.
	Workers int
	// Retries are the waits before the second, third, ... attempt of a
	// logout whose delivery failed with a network error, a timeout or a
	// 5xx; after the last, the logout is given up. Nil means 10 s and
	// 30 s: three attempts within about a minute.
	Retries []time.Duration
	// Poll is how often the outbox is read for logouts queued by other
	// processes (the command line, other replicas) and for retries due.
	// Zero means 1 s.
	Poll time.Duration
	// Lease is how long a claimed logout stays out of other claims, while
	// it is delivered; past it a logout whose deliverer died is tried
	// again. It must exceed a delivery's time (the client's timeout).
	// Zero means 30 s.
	Lease time.Duration
}

// NewBackchannelClient returns the HTTP client of back-channel logouts: a
// [BackchannelTimeout] timeout and no redirect followed (a 3xx answer is
// a failure).
func NewBackchannelClient() *http.Client {
	return &http.Client{
		Timeout:       BackchannelTimeout,
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Backchannel delivers the logouts of OpenID Connect Back-Channel Logout
// 1.0 queued in the store's outbox: for each, a logout token signed by the
// issuer is posted to the client's backchannel_logout_uri as
// application/x-www-form-urlencoded logout_token=... (§2.5). A 200 or 204
// answer delivers it; a network error, a timeout or a 5xx is retried after
// each of Retries, then given up; a 4xx or any other answer gives it up at
// once (§2.8). Every failure is logged as backchannel_logout_failed with
// the client and the status, never the token. The end of a session only
// queues its logouts, so a slow or failing client never delays or fails a
// logout. The outbox outlives a restart and is shared by replicas on one
// database, which claim each logout in turn.
type Backchannel struct {
	cfg  BackchannelConfig
	log  *slog.Logger
	wake chan struct{}

	mu   sync.Mutex
	down map[string]time.Time // client ID → until when its logouts are not posted
}

// NewBackchannel validates cfg and returns a Backchannel; [Backchannel.Run]
// delivers.
func NewBackchannel(cfg BackchannelConfig) (*Backchannel, error) {
	if cfg.Issuer == nil || cfg.Store == nil {
		return nil, errors.New("server: BackchannelConfig.Issuer and Store are required")
	}
	if cfg.Workers < 0 || cfg.Poll < 0 || cfg.Lease < 0 {
		return nil, errors.New("server: negative Workers, Poll or Lease")
	}
	for _, d := range cfg.Retries {
		if d <= 0 {
			return nil, errors.New("server: BackchannelConfig.Retries holds a wait that is not positive")
		}
	}
	if cfg.Client == nil {
		cfg.Client = NewBackchannelClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Retries == nil {
		cfg.Retries = []time.Duration{10 * time.Second, 30 * time.Second}
	}
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	b := &Backchannel{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), down: map[string]time.Time{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b, nil
}

// Wake makes [Backchannel.Run] read the outbox now rather than at its next
// poll, after a logout was queued in this process. It never blocks.
func (b *Backchannel) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run delivers the queued logouts until ctx ends, then waits for the
// deliveries in flight, which ctx cancels, and returns ctx's error. A
// logout whose delivery was cancelled stays in the outbox and is tried
// again once its lease has passed, by this process after a restart or by
// another replica. Store failures are logged and retried at the next poll.
func (b *Backchannel) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, b.cfg.Workers)
	tick := time.NewTicker(b.cfg.Poll)
	defer tick.Stop()
	for {
		if free := cap(slots) - len(slots); free > 0 {
			ls, err := b.cfg.Store.ClaimBackchannelLogouts(ctx, b.cfg.Now(), b.cfg.Lease, free)
			if err != nil && ctx.Err() == nil {
				b.log.LogAttrs(ctx, slog.LevelError, "backchannel_outbox_failed", slog.String("error", err.Error()))
			}
			for _, l := range ls {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						b.Wake() // a slot is free: claim what waits
					}()
					b.deliver(ctx, l)
				})
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-b.wake:
		}
	}
}

// deliver makes one attempt at the logout l, claimed from the outbox, and
// deletes it, or sets its next attempt, by the outcome.
func (b *Backchannel) deliver(ctx context.Context, l keyward.BackchannelLogout) {
	d, err := b.cfg.Issuer.LogoutToken(ctx, l)
	switch {
	case errors.Is(err, issuer.ErrNoBackchannel):
		b.log.LogAttrs(ctx, slog.LevelInfo, "backchannel_logout_dropped", slog.String("client_id", l.ClientID),
			slog.String("session_id", l.SessionID), slog.String("reason", err.Error()))
		b.finish(ctx, l, BackchannelDropped)
		return
	case ctx.Err() != nil:
		return // shutting down: tried again once the lease lapses
	case err != nil:
		// No key active yet, or the store unreachable: try again later.
		b.failed(ctx, l, 0, err)
		return
	}
	if b.isDown(l.ClientID) {
		b.failed(ctx, l, 0, errClientDown)
		return
	}
	status, err := b.post(ctx, d)
	if ctx.Err() == nil {
		b.setDown(l.ClientID, err != nil || status >= 500)
	}
	switch {
	case err == nil && (status == http.StatusOK || status == http.StatusNoContent):
		b.log.LogAttrs(ctx, slog.LevelDebug, "backchannel_logout_delivered", slog.String("client_id", l.ClientID),
			slog.String("session_id", l.SessionID), slog.Int("attempt", l.Attempts))
		b.finish(ctx, l, BackchannelDelivered)
	case ctx.Err() != nil:
		// Shutting down: the logout stays claimed until its lease ends,
		// then it is tried again.
	case err != nil || status >= 500:
		b.failed(ctx, l, status, err)
	default:
		b.log.LogAttrs(ctx, slog.LevelWarn, "backchannel_logout_failed", slog.String("client_id", l.ClientID),
			slog.String("session_id", l.SessionID), slog.Int("status", status), slog.Int("attempt", l.Attempts),
			slog.Bool("retry", false))
		b.finish(ctx, l, BackchannelFailed)
	}
}

// failed handles an attempt that may succeed later: it sets the next
// attempt, or gives the logout up after the last one.
func (b *Backchannel) failed(ctx context.Context, l keyward.BackchannelLogout, status int, err error) {
	retry := l.Attempts <= len(b.cfg.Retries)
	attrs := []slog.Attr{slog.String("client_id", l.ClientID), slog.String("session_id", l.SessionID),
		slog.Int("status", status), slog.Int("attempt", l.Attempts), slog.Bool("retry", retry)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	b.log.LogAttrs(ctx, slog.LevelWarn, "backchannel_logout_failed", attrs...)
	if !retry {
		b.finish(ctx, l, BackchannelFailed)
		return
	}
	next := b.cfg.Now().Add(b.cfg.Retries[l.Attempts-1])
	if err := b.cfg.Store.RetryBackchannelLogout(ctx, l.ID, next); err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelError, "backchannel_outbox_failed", slog.String("error", err.Error()))
	}
	b.observe(BackchannelRetried)
}

// errClientDown fails the attempts at a client's logouts while an attempt
// at another of its logouts has just failed.
var errClientDown = errors.New("not posted: the client's last attempt failed less than the first retry wait ago")

// isDown reports whether a recent attempt at a logout of client failed
// with a network error, a timeout or a 5xx. Its other logouts then fail
// their attempts without a request, until the first of Retries has
// passed: a relying party that hangs would otherwise hold every delivery
// slot for a timeout per logout of its backlog, and the logouts of every
// other client would wait behind them. Without Retries, every logout gets
// its one attempt.
func (b *Backchannel) isDown(client string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.down[client]
	if ok && !b.cfg.Now().Before(until) {
		delete(b.down, client)
		return false
	}
	return ok
}

// setDown records the outcome of an attempt at a logout of client.
func (b *Backchannel) setDown(client string, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if failed && len(b.cfg.Retries) > 0 {
		b.down[client] = b.cfg.Now().Add(b.cfg.Retries[0])
	} else {
		delete(b.down, client)
	}
}

// finish removes l from the outbox and counts its outcome.
func (b *Backchannel) finish(ctx context.Context, l keyward.BackchannelLogout, outcome string) {
	if err := b.cfg.Store.DeleteBackchannelLogout(ctx, l.ID); err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelError, "backchannel_outbox_failed", slog.String("error", err.Error()))
	}
	b.observe(outcome)
}

func (b *Backchannel) observe(outcome string) {
	if b.cfg.Observer != nil {
		b.cfg.Observer.BackchannelLogout(outcome)
	}
}

// post sends the logout token and returns the answer's status.
func (b *Backchannel) post(ctx context.Context, d issuer.LogoutDelivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, BackchannelTimeout)
	defer cancel()
	body := url.Values{"logout_token": {d.Token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URI, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("back-channel logout request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.cfg.Client.Do(req)
	if err != nil {
		return 0, redactURLError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, backchannelMaxBody))
	return resp.StatusCode, nil
}

// redactURLError returns the cause of a client error without the request
// URL, which the log names by its client instead.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
