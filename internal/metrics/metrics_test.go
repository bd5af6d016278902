package metrics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// gather returns the registry's series as "name{l1="v1",l2="v2"}" (labels
// sorted) with their values; histograms give their _count.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			name := mf.GetName()
			if len(ls) > 0 {
				name += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestKeyCollector(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := []keyward.SigningKey{
		{ID: "p", Algorithm: "ES256", State: keyward.KeyPending, ActivateAt: now.Add(time.Hour)},
		{ID: "a", Algorithm: "ES256", State: keyward.KeyActive, RetireAt: now.Add(2 * time.Hour)},
		{ID: "r", Algorithm: "RS256", State: keyward.KeyRetired, RemoveAt: now.Add(-time.Minute)},
		{ID: "s", Algorithm: "EdDSA", State: keyward.KeyActive},
		{ID: "i", Algorithm: "RS256", Purpose: keyward.KeyPurposeIDToken, State: keyward.KeyActive, RetireAt: now.Add(3 * time.Hour)},
		{ID: "x", Algorithm: "RS256", Purpose: "unknown", State: keyward.KeyActive},
	}
	tests := []struct {
		name string
		list func(context.Context) ([]keyward.SigningKey, error)
		want map[string]float64
	}{
		{
			name: "keys",
			list: func(context.Context) ([]keyward.SigningKey, error) { return keys, nil },
			want: map[string]float64{
				`keyward_signing_key_next_transition_seconds{kid="a",purpose="primary",state="active"}`:  7200,
				`keyward_signing_key_next_transition_seconds{kid="i",purpose="id_token",state="active"}`: 10800,
				`keyward_signing_key_next_transition_seconds{kid="p",purpose="primary",state="pending"}`: 3600,
				`keyward_signing_key_next_transition_seconds{kid="r",purpose="primary",state="retired"}`: -60,
				`keyward_signing_key_state{alg="ES256",kid="a",purpose="primary",state="active"}`:        1,
				`keyward_signing_key_state{alg="ES256",kid="p",purpose="primary",state="pending"}`:       1,
				`keyward_signing_key_state{alg="EdDSA",kid="s",purpose="primary",state="active"}`:        1,
				`keyward_signing_key_state{alg="RS256",kid="i",purpose="id_token",state="active"}`:       1,
				`keyward_signing_key_state{alg="RS256",kid="r",purpose="primary",state="retired"}`:       1,
				`keyward_signing_key_state{alg="RS256",kid="x",purpose="other",state="active"}`:          1,
				`keyward_signing_keys_list_error`: 0,
			},
		},
		{
			name: "store error",
			list: func(context.Context) ([]keyward.SigningKey, error) { return nil, errors.New("down") },
			want: map[string]float64{`keyward_signing_keys_list_error`: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			if err := RegisterKeys(reg, tt.list, func() time.Time { return now }); err != nil {
				t.Fatal(err)
			}
			got := gather(t, reg)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestCountersAndHistogram(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	v, err := NewVerifier(reg)
	if err != nil {
		t.Fatal(err)
	}
	is, err := NewIssuer(reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHTTP(reg, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	var st jwks.Status
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j, err := NewJWKS(reg, func() jwks.Status { return st }, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(reg); err == nil {
		t.Error("registering the verifier metrics twice succeeded")
	}

	v.Verified("valid", "")
	v.Verified("invalid", "expired")
	v.Verified("invalid", "expired")
	v.CacheHit()
	v.CacheMiss()
	v.CacheMiss()
	is.TokenIssued("password", "ES256")
	is.Login("throttled")
	is.RefreshReuse()
	j.Fetched(jwks.TriggerScheduled, "not_modified", nil)
	j.Fetched(jwks.TriggerRecovery, "error", errors.New("down"))
	j.Fetched(jwks.TriggerRecovery, "error", errors.New("down"))
	j.Fetched(jwks.TriggerUnknownKID, "ok", nil)
	h.ObserveRequest("POST /token", 201, 3*time.Millisecond)
	h.ObserveRequest("POST /token", 503, time.Second)
	h.ObserveRequest("/", 0, time.Millisecond)

	got := gather(t, reg)
	for series, want := range map[string]float64{
		`keyward_verifications_total{outcome="valid",reason=""}`:                                 1,
		`keyward_verifications_total{outcome="invalid",reason="expired"}`:                        2,
		`keyward_verify_cache_total{result="hit"}`:                                               1,
		`keyward_verify_cache_total{result="miss"}`:                                              2,
		`keyward_tokens_issued_total{alg="ES256",grant="password"}`:                              1,
		`keyward_logins_total{result="throttled"}`:                                               1,
		`keyward_logins_total{result="success"}`:                                                 0,
		`keyward_refresh_reuse_total`:                                                            1,
		`keyward_jwks_fetches_total{result="not_modified",trigger="scheduled"}`:                  1,
		`keyward_jwks_fetches_total{result="error",trigger="scheduled"}`:                         0,
		`keyward_jwks_fetches_total{result="error",trigger="recovery"}`:                          2,
		`keyward_jwks_fetches_total{result="ok",trigger="unknown_kid"}`:                          1,
		`keyward_jwks_age_seconds`:                                                               -1,
		`keyward_jwks_usable`:                                                                    0,
		`keyward_http_request_duration_seconds{code="2xx",handler="issuer",route="POST /token"}`: 1,
		`keyward_http_request_duration_seconds{code="5xx",handler="issuer",route="POST /token"}`: 1,
		`keyward_http_request_duration_seconds{code="other",handler="issuer",route="/"}`:         1,
	} {
		if g, ok := got[series]; !ok || g != want {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, want)
		}
	}
	st.Fetched, st.Usable = now.Add(-90*time.Second), true
	if g := gather(t, reg); g["keyward_jwks_age_seconds"] != 90 || g["keyward_jwks_usable"] != 1 {
		t.Errorf("age = %v, usable = %v; want 90 and 1", g["keyward_jwks_age_seconds"], g["keyward_jwks_usable"])
	}
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var st verifier.RevocationStatus
	r, err := NewRevocations(reg, func() verifier.RevocationStatus { return st }, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRevocations(reg, func() verifier.RevocationStatus { return st }, nil); err == nil {
		t.Error("registering the revocation metrics twice succeeded")
	}
	r.Fetched("ok", nil)
	r.Fetched("error", errors.New("down"))
	r.Fetched("error", errors.New("down"))
	got := gather(t, reg)
	for series, want := range map[string]float64{
		`keyward_revocation_fetches_total{result="ok"}`:           1,
		`keyward_revocation_fetches_total{result="error"}`:        2,
		`keyward_revocation_fetches_total{result="not_modified"}`: 0,
		`keyward_revocation_age_seconds`:                          -1,
	} {
		if g, ok := got[series]; !ok || g != want {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, want)
		}
	}
	st.FetchedAt = now.Add(-7 * time.Second)
	if g := gather(t, reg)["keyward_revocation_age_seconds"]; g != 7 {
		t.Errorf("age = %v, want 7", g)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	r, err := NewRefusals(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg)[`keyward_gate_refusals_total{reason="audience"}`]; got != 0 {
		t.Fatalf("audience before any refusal: %v", got)
	}
	if _, ok := gather(t, reg)[`keyward_gate_refusals_total{reason="issuer"}`]; !ok {
		t.Fatal("no issuer series before the first refusal")
	}
	for range 1000 {
		r.Refused("audience")
	}
	r.Refused("malformed")
	got := gather(t, reg)
	if got[`keyward_gate_refusals_total{reason="audience"}`] != 1000 || got[`keyward_gate_refusals_total{reason="malformed"}`] != 1 {
		t.Fatalf("%v", got)
	}
	if _, err := NewRefusals(reg); err == nil {
		t.Fatal("registered twice")
	}
}
