package milter

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Metrics are the daemon's counters, exposed in the Prometheus text format
// (version 0.0.4). A handful of counters and histograms do not justify the
// Prometheus client library and its dependency tree.
type Metrics struct {
	mu       sync.Mutex
	messages map[verdictKey]uint64 // final verdict per message
	rcpts    map[verdictKey]uint64 // recipients refused at RCPT TO
	reloads  map[string]uint64     // "ok", "failed"
	stages   map[string]*histogram // stage latencies

	sessions atomic.Int64
	dnsBase  dnsauth.ResolverStats        // counters of resolvers replaced by reloads
	dns      func() dnsauth.ResolverStats // the current resolver's counters
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

// NewMetrics makes an empty set of counters.
func NewMetrics() *Metrics {
	return &Metrics{
		messages: map[verdictKey]uint64{},
		rcpts:    map[verdictKey]uint64{},
		reloads:  map[string]uint64{},
		stages:   map[string]*histogram{},
	}
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

// ServeHTTP writes the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.WriteTo(w)
}

// WriteTo writes the metrics in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cw := &countingWriter{w: w}
	writeVerdicts(cw, "spoofguard_messages_total", "Messages by final verdict and deciding rule.", m.messages)
	writeVerdicts(cw, "spoofguard_recipients_refused_total", "Recipients refused (or, report-only, that would have been) at RCPT TO.", m.rcpts)

	header(cw, "spoofguard_stage_duration_seconds", "histogram", "Time spent deciding at each milter stage.")
	for _, stage := range sortedKeys(m.stages) {
		h := m.stages[stage]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(cw, "spoofguard_stage_duration_seconds_bucket{stage=%q,le=\"%g\"} %d\n", stage, le, cum)
		}
		fmt.Fprintf(cw, "spoofguard_stage_duration_seconds_bucket{stage=%q,le=\"+Inf\"} %d\n", stage, h.n)
		fmt.Fprintf(cw, "spoofguard_stage_duration_seconds_sum{stage=%q} %g\n", stage, h.sum)
		fmt.Fprintf(cw, "spoofguard_stage_duration_seconds_count{stage=%q} %d\n", stage, h.n)
	}

	header(cw, "spoofguard_sessions_open", "gauge", "Milter sessions (MTA connections) open now.")
	fmt.Fprintf(cw, "spoofguard_sessions_open %d\n", m.sessions.Load())

	header(cw, "spoofguard_config_reloads_total", "counter", "Configuration reloads by result.")
	for _, r := range []string{"ok", "failed"} {
		fmt.Fprintf(cw, "spoofguard_config_reloads_total{result=%q} %d\n", r, m.reloads[r])
	}

	var s dnsauth.ResolverStats
	if m.dns != nil {
		s = m.dns()
	}
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"spoofguard_dns_lookups_total", "DNS lookups asked of the resolver.", m.dnsBase.Lookups + s.Lookups},
		{"spoofguard_dns_cache_hits_total", "DNS lookups answered from the cache.", m.dnsBase.CacheHits + s.CacheHits},
		{"spoofguard_dns_coalesced_total", "DNS lookups that joined an identical query in flight.", m.dnsBase.Coalesced + s.Coalesced},
		{"spoofguard_dns_queries_total", "DNS queries sent to servers.", m.dnsBase.Queries + s.Queries},
		{"spoofguard_dns_timeouts_total", "DNS query attempts that timed out.", m.dnsBase.Timeouts + s.Timeouts},
		{"spoofguard_dns_failures_total", "DNS lookups that ended in a temporary failure.", m.dnsBase.Failures + s.Failures},
	} {
		header(cw, c.name, "counter", c.help)
		fmt.Fprintf(cw, "%s %d\n", c.name, c.v)
	}
	return cw.n, cw.err
}

func writeVerdicts(w io.Writer, name, help string, counts map[verdictKey]uint64) {
	header(w, name, "counter", help)
	keys := make([]verdictKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.action != b.action {
			return a.action < b.action
		}
		if a.rule != b.rule {
			return a.rule < b.rule
		}
		return !a.reportOnly && b.reportOnly
	})
	for _, k := range keys {
		fmt.Fprintf(w, "%s{action=%q,rule=%q,report_only=\"%t\"} %d\n", name, k.action, k.rule, k.reportOnly, counts[k])
	}
}

func header(w io.Writer, name, kind, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
