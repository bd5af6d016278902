package metrics

import "github.com/prometheus/client_golang/prometheus"

// Backchannel counts the attempts of back-channel logout deliveries by
// outcome; it implements server.BackchannelObserver.
type Backchannel struct {
	attempts *prometheus.CounterVec
}

// backchannelOutcomes are the outcomes of server.Backchannel, whose series
// exist from the start, at 0.
var backchannelOutcomes = []string{"delivered", "retried", "failed", "dropped"}

// NewBackchannel registers keyward_backchannel_logouts_total{outcome} on
// reg.
func NewBackchannel(reg prometheus.Registerer) (*Backchannel, error) {
	b := &Backchannel{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "backchannel_logouts_total",
		Help: "Back-channel logout delivery attempts by outcome (delivered, retried, failed: refused or given up, dropped: client gone or without a URI).",
	}, []string{"outcome"})}
	if err := reg.Register(b.attempts); err != nil {
		return nil, err
	}
	for _, o := range backchannelOutcomes {
		b.attempts.WithLabelValues(o)
	}
	return b, nil
}

// BackchannelLogout counts one attempt. outcome comes from the fixed set
// of server.Backchannel.
func (b *Backchannel) BackchannelLogout(outcome string) { b.attempts.WithLabelValues(outcome).Inc() }
