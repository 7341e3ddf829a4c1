package policy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
)

// relaySet is one configured inbound filtering relay: the networks written
// in the configuration plus those published in the vendor's SPF records,
// which are fetched through the shared resolver and refreshed in the
// background.
type relaySet struct {
	cfg    *config.RelayConfig
	static []netip.Prefix

	// spf holds the networks learnt from the SPF records; nil until the
	// first fetch succeeded, so "unknown" can be told from "empty".
	spf    atomic.Pointer[[]netip.Prefix]
	status atomic.Pointer[string] // last fetch outcome, for logs and `check`
}

// How often the SPF-published relay networks are fetched again. The
// resolver does not expose TTLs, so the SPF analysis' fixed refresh
// applies; a failed fetch is retried sooner while the old set stays.
const (
	relayRefresh      = spf.Refresh
	relayRetry        = time.Minute
	relayFetchTimeout = 15 * time.Second
)

func newRelaySet(cfg *config.RelayConfig) *relaySet {
	rs := &relaySet{cfg: cfg}
	for _, n := range cfg.Networks {
		rs.static = append(rs.static, n.Prefix)
	}
	return rs
}

// contains reports whether ip belongs to the relay, and whether the answer
// is certain: it is not while SPF-published networks were never fetched.
func (rs *relaySet) contains(ip netip.Addr) (in, certain bool) {
	if prefixesContain(rs.static, ip) {
		return true, true
	}
	if len(rs.cfg.SPF) == 0 {
		return false, true
	}
	p := rs.spf.Load()
	if p == nil {
		return false, false
	}
	return prefixesContain(*p, ip), true
}

// fetch expands the relay's SPF records. Networks from a record that
// failed temporarily keep their previous value: a DNS outage must not
// shrink the relay set and turn filtered mail into "direct delivery".
func (rs *relaySet) fetch(ctx context.Context, dns dnsauth.DNS) bool {
	if len(rs.cfg.SPF) == 0 {
		return true
	}
	var nets []netip.Prefix
	var problems []string
	for _, domain := range rs.cfg.SPF {
		a := spf.Analyze(ctx, dns, domain)
		if a.TempError {
			msg := "temporary DNS failure fetching " + domain + "; keeping the previous set"
			rs.status.Store(&msg)
			return false
		}
		nets = append(nets, a.Networks...)
		problems = append(problems, a.Problems...)
	}
	msg := "loaded " + strconv.Itoa(len(nets)) + " network(s) from " + strings.Join(rs.cfg.SPF, ", ")
	if len(problems) > 0 {
		msg += " (" + strings.Join(problems, "; ") + ")"
	}
	rs.spf.Store(&nets)
	rs.status.Store(&msg)
	return true
}

// networks returns every network currently in the set.
func (rs *relaySet) networks() []netip.Prefix {
	out := append([]netip.Prefix(nil), rs.static...)
	if p := rs.spf.Load(); p != nil {
		out = append(out, *p...)
	}
	return out
}

// Status says how the SPF-published part of the set was last loaded.
func (rs *relaySet) Status() string {
	if p := rs.status.Load(); p != nil {
		return *p
	}
	if len(rs.cfg.SPF) == 0 {
		return "networks from the configuration only"
	}
	return "not loaded yet"
}

// refresher keeps every relay set's SPF part current until stopped.
type refresher struct {
	stop chan struct{}
	done sync.WaitGroup
}

func startRefresher(sets []*relaySet, dns dnsauth.DNS) *refresher {
	r := &refresher{stop: make(chan struct{})}
	for _, rs := range sets {
		if len(rs.cfg.SPF) == 0 {
			continue
		}
		r.done.Add(1)
		go r.loop(rs, dns)
	}
	return r
}

func (r *refresher) loop(rs *relaySet, dns dnsauth.DNS) {
	defer r.done.Done()
	wait := relayRefresh
	if rs.spf.Load() == nil {
		wait = relayRetry
	}
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), relayFetchTimeout)
		wait = relayRefresh
		if !rs.fetch(ctx, dns) {
			wait = relayRetry
		}
		cancel()
	}
}

func (r *refresher) close() {
	close(r.stop)
	r.done.Wait()
}

func prefixesContain(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
