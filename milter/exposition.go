package milter

import (
	"io"
	"net/http"
	goruntime "runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/spoofguard/spoofguard/dnsauth"
)

var (
	verdictLabels = []string{"action", "rule", "report_only"}
	descMessages  = prometheus.NewDesc("spoofguard_messages_total",
		"Messages by final verdict and deciding rule.", verdictLabels, nil)
	descRcpts = prometheus.NewDesc("spoofguard_recipients_refused_total",
		"Recipients refused (or, report-only, that would have been) at RCPT TO.", verdictLabels, nil)
	descStages = prometheus.NewDesc("spoofguard_stage_duration_seconds",
		"Time spent deciding at each milter stage.", []string{"stage"}, nil)
	descSessions = prometheus.NewDesc("spoofguard_sessions_open",
		"Milter sessions (MTA connections) open now.", nil, nil)
	descReloads = prometheus.NewDesc("spoofguard_config_reloads_total",
		"Configuration reloads by result.", []string{"result"}, nil)
)

// dnsCounters are the resolver's counters, each with its series.
var dnsCounters = []struct {
	desc *prometheus.Desc
	get  func(dnsauth.ResolverStats) uint64
}{
	{dnsDesc("lookups", "DNS lookups asked of the resolver."), func(s dnsauth.ResolverStats) uint64 { return s.Lookups }},
	{dnsDesc("cache_hits", "DNS lookups answered from the cache."), func(s dnsauth.ResolverStats) uint64 { return s.CacheHits }},
	{dnsDesc("coalesced", "DNS lookups that joined an identical query in flight."), func(s dnsauth.ResolverStats) uint64 { return s.Coalesced }},
	{dnsDesc("queries", "DNS queries sent to servers."), func(s dnsauth.ResolverStats) uint64 { return s.Queries }},
	{dnsDesc("timeouts", "DNS query attempts that timed out."), func(s dnsauth.ResolverStats) uint64 { return s.Timeouts }},
	{dnsDesc("failures", "DNS lookups that ended in a temporary failure."), func(s dnsauth.ResolverStats) uint64 { return s.Failures }},
}

func dnsDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("spoofguard_dns_"+name+"_total", help, nil, nil)
}

// newRegistry registers the daemon's counters with what every Go
// exporter has: process_* (CPU, memory, file descriptors), go_* (the
// runtime) and a build_info series naming the version.
func newRegistry(m *Metrics, version string) *prometheus.Registry {
	r := prometheus.NewRegistry()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "spoofguard_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goruntime.Version()},
	})
	info.Set(1)
	r.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		info,
		(*collector)(m),
	)
	return r
}

// collector reads the counters at scrape time.
type collector Metrics

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descRcpts, descStages, descSessions, descReloads, descBATV} {
		ch <- d
	}
	for _, c := range dnsCounters {
		ch <- c.desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	m.mu.Lock()
	defer m.mu.Unlock()
	collectVerdicts(ch, descMessages, m.messages)
	collectVerdicts(ch, descRcpts, m.rcpts)
	for stage, h := range m.stages {
		ch <- prometheus.MustNewConstHistogram(descStages, h.n, h.sum, h.cumulative(), stage)
	}
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(m.sessions.Load()))
	m.batv.collect(ch)
	// Both results always appear, so a rate over "failed" starts at 0.
	for _, r := range []string{"ok", "failed"} {
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(m.reloads[r]), r)
	}
	var s dnsauth.ResolverStats
	if m.dns != nil {
		s = m.dns()
	}
	for _, c := range dnsCounters {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.get(m.dnsBase)+c.get(s)))
	}
}

func collectVerdicts(ch chan<- prometheus.Metric, desc *prometheus.Desc, counts map[verdictKey]uint64) {
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n),
			k.action, k.rule, strconv.FormatBool(k.reportOnly))
	}
}

// cumulative turns the per-bucket counts into Prometheus's cumulative
// buckets; +Inf is the total count.
func (h *histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, le := range latencyBuckets {
		cum += h.counts[i]
		out[le] = cum
	}
	return out
}

// ServeHTTP answers a scrape, in whichever exposition format the scraper
// asks for.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// WriteTo writes every series in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, f := range families {
		n, err := expfmt.MetricFamilyToText(w, f)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
