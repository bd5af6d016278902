package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/storage/memory"
)

// scrape returns the metrics page at u.
func scrape(t *testing.T, u string) string {
	t.Helper()
	resp, err := httpClient().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// metricValue returns the value of the series (name and labels exactly as
// the exposition format writes them, labels sorted), failing the test when
// the page has no such series.
func metricValue(t *testing.T, page, series string) float64 {
	t.Helper()
	for line := range strings.Lines(page) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Errorf("no series %s in:\n%s", series, grepLines(page, "keyward_"))
	return -1
}

// grepLines returns the lines of page that contain s and are not comments.
func grepLines(page, s string) string {
	var out []string
	for line := range strings.Lines(page) {
		if strings.Contains(line, s) && !strings.HasPrefix(line, "#") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

// postForm posts form to u with a request ID and returns the status and
// body.
func postForm(t *testing.T, u string, form url.Values, requestID string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", requestID)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestMetricsAfterScriptedRun runs the real serve binary and an in-process
// gate through logins, refreshes, a refresh reuse, a revocation and
// verifications, then scrapes both /metrics endpoints for the expected
// values, and scans the logs of the run for secrets.
func TestMetricsAfterScriptedRun(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--data", data, "--alg", "ES256", "--log-level", "debug")
	password := p.adminPassword(t)

	// One failed login, one good one.
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": "wrong-" + password})
	resp, err := httpClient().Post(p.url("/login"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad login: %d", resp.StatusCode)
	}
	tok := p.login(t, "admin", password)

	// A refresh, then the old refresh token again: reuse.
	code, b := postForm(t, p.url("/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "refresh-1")
	if code != http.StatusOK {
		t.Fatalf("refresh: %d %s", code, b)
	}
	var refreshed struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &refreshed); err != nil || refreshed.RefreshToken == "" {
		t.Fatalf("refresh response %s: %v", b, err)
	}
	code, b = postForm(t, p.url("/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "reuse-req-17")
	if code != http.StatusBadRequest {
		t.Fatalf("reused refresh token: %d %s", code, b)
	}
	code, b = postForm(t, p.url("/revoke"), url.Values{"token": {refreshed.AccessToken}, "token_type_hint": {"access_token"}}, "revoke-1")
	if code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, b)
	}

	// The gate verifies the login's access token twice (miss, then hit)
	// and refuses a malformed one.
	gateURL, gateLogs, stop := startGateCmd(t, nil, "--jwks-url", p.url("/jwks.json"),
		"--issuer", "http://localhost:4000", "--audience", "api", "--log-level", "debug")
	for i := range 2 {
		if code, _, body := httpGet(t, gateURL+"/protected", tok.AccessToken); code != http.StatusOK {
			t.Fatalf("gate request %d: %d %s", i, code, body)
		}
	}
	code, hdr, _ := httpGet(t, gateURL+"/protected", "not.a.token", "X-Request-Id", "gate-req-7")
	if code != http.StatusUnauthorized || hdr.Get("X-Request-Id") != "gate-req-7" {
		t.Fatalf("malformed token: %d, X-Request-Id %q", code, hdr.Get("X-Request-Id"))
	}
	if _, hdr, _ := httpGet(t, gateURL+"/protected", "", "X-Request-Id", "bad id\twith spaces"); len(hdr.Get("X-Request-Id")) != 16 {
		t.Errorf("an unsafe X-Request-Id was not replaced: %q", hdr.Get("X-Request-Id"))
	}

	issuerPage := scrape(t, p.url("/metrics"))
	for series, want := range map[string]float64{
		`keyward_logins_total{result="success"}`:                                                        1,
		`keyward_logins_total{result="invalid_credentials"}`:                                            1,
		`keyward_logins_total{result="throttled"}`:                                                      0,
		`keyward_tokens_issued_total{alg="ES256",grant="password"}`:                                     1,
		`keyward_tokens_issued_total{alg="ES256",grant="refresh_token"}`:                                1,
		`keyward_refresh_reuse_total`:                                                                   1,
		`keyward_signing_keys_list_error`:                                                               0,
		`keyward_http_request_duration_seconds_count{code="2xx",handler="issuer",route="POST /login"}`:  1,
		`keyward_http_request_duration_seconds_count{code="4xx",handler="issuer",route="POST /login"}`:  1,
		`keyward_http_request_duration_seconds_count{code="2xx",handler="issuer",route="POST /token"}`:  1,
		`keyward_http_request_duration_seconds_count{code="4xx",handler="issuer",route="POST /token"}`:  1,
		`keyward_http_request_duration_seconds_count{code="2xx",handler="issuer",route="POST /revoke"}`: 1,
	} {
		if got := metricValue(t, issuerPage, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// The ES256 primary key and the RS256 key of ID tokens, both active,
	// made now and rotating every 720 h by default, each with its purpose.
	set := p.jwks(t)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS kids %v, want two", set.KeyIDs())
	}
	purposes := map[string]string{"ES256": "primary", "RS256": "id_token"}
	for _, k := range set.Keys {
		purpose := purposes[string(k.Algorithm)]
		if purpose == "" {
			t.Fatalf("JWKS key %s of algorithm %s, want ES256 or RS256", k.KeyID, k.Algorithm)
		}
		if got := metricValue(t, issuerPage, `keyward_signing_key_state{alg="`+string(k.Algorithm)+`",kid="`+k.KeyID+`",purpose="`+purpose+`",state="active"}`); got != 1 {
			t.Errorf("%s key state = %v, want 1", k.Algorithm, got)
		}
		next := metricValue(t, issuerPage, `keyward_signing_key_next_transition_seconds{kid="`+k.KeyID+`",purpose="`+purpose+`",state="active"}`)
		if hours := next / 3600; hours < 719 || hours > 720 {
			t.Errorf("%s key: next transition in %v h, want about 720", k.Algorithm, hours)
		}
	}

	gatePage := scrape(t, gateURL+"/.keyward/metrics")
	for series, want := range map[string]float64{
		`keyward_verifications_total{outcome="valid",reason=""}`:            2,
		`keyward_verifications_total{outcome="invalid",reason="malformed"}`: 1,
		`keyward_verify_cache_total{result="hit"}`:                          1,
		`keyward_gate_refusals_total{reason="malformed"}`:                   1,
		`keyward_gate_refusals_total{reason="missing_token"}`:               1,
		`keyward_gate_refusals_total{reason="audience"}`:                    0,
		`keyward_verify_cache_total{result="miss"}`:                         2,
		`keyward_jwks_fetches_total{result="ok",trigger="recovery"}`:        1,
		`keyward_jwks_fetches_total{result="error",trigger="recovery"}`:     0,
		`keyward_jwks_usable`: 1,
		`keyward_http_request_duration_seconds_count{code="2xx",handler="gate",route="demo"}`: 2,
		`keyward_http_request_duration_seconds_count{code="4xx",handler="gate",route="demo"}`: 2,
	} {
		if got := metricValue(t, gatePage, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if age := metricValue(t, gatePage, "keyward_jwks_age_seconds"); age < 0 || age > 60 {
		t.Errorf("keyward_jwks_age_seconds = %v, want a fresh set", age)
	}
	if strings.Contains(gatePage, "/protected") || strings.Contains(issuerPage, "admin") {
		t.Error("a raw path or a username leaked into metric labels")
	}

	if code := stop(); code != 0 {
		t.Errorf("gate exit code %d", code)
	}
	p.kill(t)

	// Request IDs: taken from X-Request-Id on both sides.
	serveLog := p.stderr.String()
	if !strings.Contains(serveLog, "request_id=reuse-req-17") {
		t.Errorf("the issuer's log has no line with the client's request ID:\n%s", serveLog)
	}
	if !strings.Contains(gateLogs.String(), "request_id=gate-req-7") {
		t.Errorf("the gate's log has no line with the client's request ID:\n%s", gateLogs)
	}
	if !strings.Contains(gateLogs.String(), "level=INFO msg=requests_refused reason=malformed status=401 count=1 ") {
		t.Errorf("the gate's log has no info line for the malformed token:\n%s", gateLogs)
	}

	// No secret in the logs of the run (debug level included).
	masterKey, err := os.ReadFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"admin password":         password,
		"refresh token":          tok.RefreshToken,
		"rotated refresh token":  refreshed.RefreshToken,
		"access token":           tok.AccessToken,
		"master key":             strings.TrimSpace(string(masterKey)),
		"access token signature": tok.AccessToken[strings.LastIndexByte(tok.AccessToken, '.')+1:],
	}
	for name, s := range secrets {
		if len(s) < 16 {
			t.Fatalf("%s is too short to scan for: %q", name, s)
		}
		for logName, log := range map[string]string{"serve": serveLog, "gate": gateLogs.String()} {
			if strings.Contains(log, s) {
				t.Errorf("the %s log contains the %s", logName, name)
			}
		}
	}
	for _, marker := range []string{"PRIVATE KEY", `"d":`} {
		if strings.Contains(serveLog, marker) || strings.Contains(gateLogs.String(), marker) {
			t.Errorf("a log contains key material (%s)", marker)
		}
	}
}

// TestLogFlags checks --log-format and --log-level.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		wantErr             string
		check               func(t *testing.T, out string)
	}{
		{name: "json", format: "json", level: "info", check: func(t *testing.T, out string) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(out), &rec); err != nil {
				t.Fatalf("not JSON: %q: %v", out, err)
			}
			if rec["msg"] != "hello" || rec["k"] != "v" {
				t.Errorf("record %v", rec)
			}
		}},
		{name: "text", format: "text", level: "info", check: func(t *testing.T, out string) {
			if !strings.Contains(out, "msg=hello k=v") {
				t.Errorf("record %q", out)
			}
		}},
		{name: "level filters", format: "text", level: "error", check: func(t *testing.T, out string) {
			if out != "" {
				t.Errorf("info record at level error: %q", out)
			}
		}},
		{name: "bad format", format: "xml", level: "info", wantErr: "--log-format"},
		{name: "bad level", format: "text", level: "loud", wantErr: "--log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := newLogger(&buf, tt.format, tt.level)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.InfoContext(t.Context(), "hello", "k", "v")
			tt.check(t, buf.String())
		})
	}
}

// TestServeRejectsBadLogFormat checks that serve refuses an unknown
// --log-format before opening anything.
func TestServeRejectsBadLogFormat(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
	code := a.run(t.Context(), []string{"serve", "--data", t.TempDir(), "--log-format", "yaml"})
	if code == 0 || !strings.Contains(stderr.String(), "--log-format") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// countingKeyStore counts the calls to ListKeys.
type countingKeyStore struct {
	keyward.Store
	lists atomic.Int64
}

func (s *countingKeyStore) ListKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	s.lists.Add(1)
	return s.Store.ListKeys(ctx)
}

// TestServeMetricsScrapeSkipsStore checks that a scrape of serve's
// /metrics reports the keys from the key manager's memory: no store query,
// so no load of the sealed private keys, however often it is scraped.
func TestServeMetricsScrapeSkipsStore(t *testing.T) {
	t.Parallel()
	store := &countingKeyStore{Store: memory.New(memory.Config{})}
	sealer, err := issuer.NewSealer(bytes.Repeat([]byte{7}, issuer.MasterKeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	key, err := readSigningKey(testKey("rsa2048.pem"))
	if err != nil {
		t.Fatal(err)
	}
	kid, err := km.Import(t.Context(), key, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg, _, _, err := serveMetrics(km)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	before := store.lists.Load()
	var page string
	for range 5 {
		page = scrape(t, srv.URL)
	}
	if n := store.lists.Load() - before; n != 0 {
		t.Errorf("5 scrapes listed the stored keys %d times, want 0", n)
	}
	if got := metricValue(t, page, `keyward_signing_key_state{alg="RS256",kid="`+kid+`",purpose="primary",state="active"}`); got != 1 {
		t.Errorf("active key state = %v, want 1", got)
	}
	if got := metricValue(t, page, "keyward_signing_keys_list_error"); got != 0 {
		t.Errorf("keyward_signing_keys_list_error = %v, want 0", got)
	}
}
