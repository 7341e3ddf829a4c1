package milter

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Metrics are the daemon's counters. The milter stages count into plain
// maps and arrays under one mutex, as cheap as a counter can be on the
// message path; the Prometheus registry reads them only when scraped
// (see exposition.go), next to the client library's process_* and go_*
// collectors and spoofguard_build_info.
type Metrics struct {
	mu       sync.Mutex
	messages map[verdictKey]uint64 // final verdict per message
	rcpts    map[verdictKey]uint64 // recipients refused at RCPT TO
	reloads  map[string]uint64     // "ok", "failed"
	stages   map[string]*histogram // stage latencies

	sessions atomic.Int64
	batv     batvCounters
	dnsBase  dnsauth.ResolverStats        // counters of resolvers replaced by reloads
	dns      func() dnsauth.ResolverStats // the current resolver's counters

	registry *prometheus.Registry
}

type verdictKey struct {
	action, rule string
	reportOnly   bool
}

// Latency buckets in seconds: milter work is sub-millisecond when the DNS
// cache is warm and seconds when a lookup times out.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

// NewMetrics makes an empty set of counters for a daemon of the given
// version, registered with their own registry.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		messages: map[verdictKey]uint64{},
		rcpts:    map[verdictKey]uint64{},
		reloads:  map[string]uint64{},
		stages:   map[string]*histogram{},
	}
	m.registry = newRegistry(m, version)
	return m
}

// SetResolver points the DNS counters at a new resolver, folding the
// counts of the one it replaces into the totals so they never go back.
func (m *Metrics) SetResolver(old, r *dnsauth.Resolver) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old != nil && old != r {
		s := old.Stats()
		m.dnsBase.Lookups += s.Lookups
		m.dnsBase.CacheHits += s.CacheHits
		m.dnsBase.Coalesced += s.Coalesced
		m.dnsBase.Queries += s.Queries
		m.dnsBase.Timeouts += s.Timeouts
		m.dnsBase.Failures += s.Failures
	}
	m.dns = r.Stats
}

func (m *Metrics) message(action, rule string, reportOnly bool) {
	m.mu.Lock()
	m.messages[verdictKey{action, rule, reportOnly}]++
	m.mu.Unlock()
}

func (m *Metrics) rcpt(action, rule string, reportOnly bool) {
	m.mu.Lock()
	m.rcpts[verdictKey{action, rule, reportOnly}]++
	m.mu.Unlock()
}

func (m *Metrics) reload(ok bool) {
	m.mu.Lock()
	if ok {
		m.reloads["ok"]++
	} else {
		m.reloads["failed"]++
	}
	m.mu.Unlock()
}

func (m *Metrics) observe(stage string, d time.Duration) {
	s := d.Seconds()
	m.mu.Lock()
	h := m.stages[stage]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.stages[stage] = h
	}
	for i, le := range latencyBuckets {
		if s <= le {
			h.counts[i]++
			break
		}
	}
	h.sum += s
	h.n++
	m.mu.Unlock()
}
