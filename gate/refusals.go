package gate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/verifier"
)

// DefaultRefusalLogEvery is how often, at most, the gate logs a line for
// each reason of refusal when Config.RefusalLogEvery is zero.
const DefaultRefusalLogEvery = 10 * time.Second

// RefusalObserver is told the reason of every request the gate refuses,
// typically to count it in a metric with a reason label. Its methods must be
// safe for concurrent use and fast: they run on the request path, and a
// flood of bad tokens calls them for each request.
type RefusalObserver interface {
	// Refused reports one refused request. reason is one of a small fixed
	// set of names ([RefusalReason]), never anything the client chose.
	Refused(reason string)
}

// RefusalReason names why a request was refused with err, an error of
// [verifier.Middleware]: "missing_token" (no bearer credentials),
// "invalid_request" (a malformed Authorization header),
// "insufficient_scope", or the category of a failed verification as
// [verifier.Reason] names it ("expired", "issuer", "audience", "signature",
// "key_not_found", "malformed", "type", "revoked", "no_route" (no route of
// the policy matches, under default: deny), "escaped_path" (an encoded
// "/" or a double encoding in the path, [escapedPath]),
// "key_source_unavailable"...; "other" for an error of no known category).
// The names come from a fixed set and carry nothing from the request, so
// they are safe as metric labels.
func RefusalReason(err error) string {
	switch {
	case errors.Is(err, verifier.ErrDPoPRequired):
		return "dpop_required"
	case errors.Is(err, verifier.ErrNoToken):
		return "missing_token"
	case errors.Is(err, verifier.ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, verifier.ErrInsufficientScope):
		return "insufficient_scope"
	case errors.Is(err, errNoRoute):
		return "no_route"
	case errors.Is(err, errEscapedPath):
		return "escaped_path"
	}
	return verifier.Reason(err)
}

// refusalLog logs refused requests at most once per reason and interval,
// with the number of refusals of that reason since its previous line. Its
// state is one small entry per reason, and reasons are a fixed set
// ([RefusalReason]), so its memory stays bounded whatever the traffic.
type refusalLog struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu       sync.Mutex
	byReason map[string]*refusalCount
}

// refusalCount is the state of one reason: when its last line was logged,
// and how many refusals have come since.
type refusalCount struct {
	logged time.Time
	n      int
}

func newRefusalLog(logger *slog.Logger, every time.Duration, now func() time.Time) *refusalLog {
	if every <= 0 {
		every = DefaultRefusalLogEvery
	}
	if now == nil {
		now = time.Now
	}
	return &refusalLog{logger: logger, every: every, now: now, byReason: map[string]*refusalCount{}}
}

// count counts one refusal of reason and reports whether a line is due for
// it, with the refusals the line stands for: this one and those not logged
// since the reason's previous line.
func (l *refusalLog) count(reason string) (int, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.byReason[reason]
	if c == nil {
		c = &refusalCount{}
		l.byReason[reason] = c
	}
	c.n++
	if !c.logged.IsZero() && now.Sub(c.logged) < l.every {
		return 0, false
	}
	n := c.n
	c.logged, c.n = now, 0
	return n, true
}

// log writes the line for n refusals of reason, the last of them r's,
// answered with status: at Warn when the key source is unavailable (valid
// tokens are refused too), at Info otherwise. err is the precise error of
// r's refusal: it may quote claims (the token's "iss" or "aud", never the
// token), which is what shows a misconfigured issuer or audience.
func (l *refusalLog) log(ctx context.Context, r *http.Request, reason string, status, n int, err error) {
	level := slog.LevelInfo
	if errors.Is(err, verifier.ErrKeySourceUnavailable) {
		level = slog.LevelWarn
	}
	l.logger.LogAttrs(ctx, level, "requests_refused",
		slog.String("reason", reason),
		slog.Int("status", status),
		slog.Int("count", n),
		slog.Duration("every", l.every),
		slog.String("path", r.URL.Path),
		slog.String("error", err.Error()))
}

// refusalHandler is the gate's [verifier.MiddlewareConfig.ErrorHandler]:
// it writes the RFC 6750 answer, counts the refusal by reason in obs, logs
// it at most once per reason and interval, and, at Debug level, logs every
// refusal.
func refusalHandler(realm string, logger *slog.Logger, lines *refusalLog, obs RefusalObserver) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		reason := RefusalReason(err)
		if obs != nil {
			obs.Refused(reason)
		}
		n, due := lines.count(reason)
		if !due && !logger.Enabled(r.Context(), slog.LevelDebug) {
			writeRefusal(w, realm, err)
			return
		}
		rec := httpx.NewStatusRecorder(w)
		writeRefusal(rec, realm, err)
		if due {
			lines.log(r.Context(), r, reason, rec.Status(), n, err)
		}
		logger.DebugContext(r.Context(), "request_refused", "reason", reason, "status", rec.Status(), "path", r.URL.Path,
			"remote", r.RemoteAddr, "error", err)
	}
}

// errNoRoute is the refusal of a request that no route of the policy
// matches under default: deny.
var errNoRoute = errors.New("gate: no route of the policy matches")

// writeRefusal writes the answer to a refused request: 404 for errNoRoute,
// 400 for errEscapedPath, else the RFC 6750 answer of [verifier.WriteError].
func writeRefusal(w http.ResponseWriter, realm string, err error) {
	if errors.Is(err, errNoRoute) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	if errors.Is(err, errEscapedPath) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: encoded / or \\ in the path"})
		return
	}
	verifier.WriteError(w, realm, err)
}
