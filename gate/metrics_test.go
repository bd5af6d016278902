package gate

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// routeLabels records the route label of every observed request.
type routeLabels struct {
	mu     sync.Mutex
	routes []string
}

func (l *routeLabels) ObserveRequest(route string, _ int, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.routes = append(l.routes, route)
}

// TestPolicyRouteLabel checks that the latency of a request under a policy
// is observed under the name of the route that decides it, as
// [Policy.RouteName] gives it, or under "health" and "metrics".
func TestPolicyRouteLabel(t *testing.T) {
	t.Parallel()
	kw, lg := loadKey(t, "rsa-a.pem"), loadKey(t, "rsa-b.pem")
	p, err := compileBenchPolicy(t, benchPolicy, kw, lg)
	if err != nil {
		t.Fatal(err)
	}
	labels := &routeLabels{}
	h, err := New(Config{
		Policies: NewPolicies(p), HTTPMetrics: labels,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}),
	})
	if err != nil {
		t.Fatal(err)
	}
	token := kw.token(t, nil)
	for _, tc := range []struct {
		method, target, want string
	}{
		{http.MethodGet, "/protected", "protected"},
		{http.MethodGet, "/", "home"},
		{http.MethodGet, "/static/app.js", "static"},
		{http.MethodPost, "/orders/7", "orders-write"},
		{http.MethodGet, "/nowhere", routeUnmatched},
		{http.MethodGet, "/orders/..;/admin", p.RouteName(http.MethodGet, "/orders/..;/admin")},
		{http.MethodGet, "/static%2Fx", p.RouteName(http.MethodGet, "/static/x")},
		{http.MethodGet, HealthPath, "health"},
		{http.MethodGet, MetricsPath, "metrics"},
	} {
		r := httptest.NewRequestWithContext(t.Context(), tc.method, tc.target, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(httptest.NewRecorder(), r)
		labels.mu.Lock()
		got := labels.routes[len(labels.routes)-1]
		labels.mu.Unlock()
		if got != tc.want {
			t.Errorf("%s %s: route label %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}
