package spf

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Analysis describes a domain's SPF policy as a whole: its record, the
// records it pulls in through include and redirect, the RFC 7208 limits it
// stays within or breaks, and every network it authorizes. The engine
// learns a filtering relay's addresses from it; `spoofguard audit` judges a
// domain's posture with it.
type Analysis struct {
	Domain      string
	Records     []string // every v=spf1 TXT found at Domain (more than one is an error, RFC 7208 §4.5)
	Record      *Record  // the record at Domain, nil when there is none or it does not parse
	Lookups     int      // DNS-querying terms counted through include/redirect (RFC 7208 §4.6.4)
	VoidLookups int      // those lookups that found nothing (NXDOMAIN or no answer)
	All         string   // the effective final all ("-all", "~all", "?all", "+all"), following redirect; "" for none
	// Networks is every address that a "+" ip4, ip6, a or mx term
	// authorizes, through "+" includes and redirect, with the terms' CIDR
	// lengths. Terms whose result depends on the message (exists, ptr,
	// macros) cannot be listed and are named in Unexpanded instead.
	Networks   []netip.Prefix
	Unexpanded []string
	// MinTTL is how long the analysis may be reused. The resolver does not
	// report record TTLs, so it is a fixed refresh interval (Refresh).
	MinTTL    time.Duration
	Problems  []string // syntax errors, limits broken, multiple records, loops, macros, +all
	TempError bool     // a lookup failed temporarily: the analysis is incomplete
}

// Refresh is how long an Analysis is taken to hold before it should
// be made again (its MinTTL).
const Refresh = 15 * time.Minute

// The walk is bounded whatever the records say: it goes on past the
// RFC's 10 lookups to report the real count, but never sends more than
// spfMaxQueries queries nor follows includes deeper than spfMaxDepth.
const (
	spfMaxQueries = 50
	spfMaxDepth   = 10
)

// Analyze fetches and walks the SPF policy of domain. It never fails:
// what went wrong is in Problems (and TempError for DNS trouble).
func Analyze(ctx context.Context, dns dnsauth.DNS, domain string) Analysis {
	w := &spfWalker{ctx: ctx, dns: dns, seen: map[string]bool{}, nets: map[netip.Prefix]bool{},
		answers: map[string]spfAnswer{}}
	w.a.MinTTL = Refresh
	d, why := spfDomain(domain)
	w.a.Domain = strings.ToLower(d)
	if why != "" {
		w.a.Domain = domain
		w.problem("domain " + why)
		return w.a
	}
	w.a.All = w.walk(w.a.Domain, "", 0, true)
	w.finish()
	return w.a
}

// spfWalker holds the state of one Analyze walk.
type spfWalker struct {
	ctx     context.Context
	dns     dnsauth.DNS
	a       Analysis
	queries int
	stopped bool
	path    []string // the include/redirect chain being walked, for loops
	seen    map[string]bool
	nets    map[netip.Prefix]bool
	answers map[string]spfAnswer // "TXT example.org" → answer: each query is sent once
}

// spfAnswer is one DNS answer as the walk needs it.
type spfAnswer struct {
	txt  []string
	ips  []net.IPAddr
	mx   []*net.MX
	err  error
	void bool // NXDOMAIN or no records (RFC 7208 §4.6.4)
}

// walk analyses the record of domain, reached through via ("" for the
// domain itself), and returns its effective all. authorize says whether
// the addresses it lists count as authorized (the chain of includes that
// led here is all "+").
func (w *spfWalker) walk(domain, via string, depth int, authorize bool) string {
	rec := w.fetch(domain, via)
	if rec == nil {
		return ""
	}
	w.path = append(w.path, strings.ToLower(domain))
	defer func() { w.path = w.path[:len(w.path)-1] }()
	for i, t := range rec.Terms {
		if t.Mechanism == "all" {
			if i < len(rec.Terms)-1 {
				w.problem(spfWhere(domain) + "terms after \"all\" are never evaluated (RFC 7208 §5.1)")
			}
			if rec.Redirect != "" {
				w.problem(spfWhere(domain) + "redirect= is ignored because the record has \"all\" (RFC 7208 §6.1)")
			}
			return string(t.Qualifier) + "all"
		}
		if t.DNSQuerying() {
			w.a.Lookups++
		}
		w.term(domain, t, depth, authorize && t.Qualifier == '+')
	}
	if rec.Redirect == "" {
		return ""
	}
	w.a.Lookups++ // RFC 7208 §4.6.4: redirect counts as a DNS-querying term
	return w.follow(domain, "redirect="+rec.Redirect, rec.Redirect, depth, authorize)
}

// term expands one mechanism other than all.
func (w *spfWalker) term(domain string, t Term, depth int, authorize bool) {
	if strings.Contains(t.Value, "%") {
		w.unexpanded(t.String())
		w.problem(spfWhere(domain) + t.String() + " uses macros: what it authorizes depends on the message")
		return
	}
	target := t.Value
	if target == "" {
		target = domain
	}
	switch t.Mechanism {
	case "ip4", "ip6":
		if addr, err := netip.ParseAddr(t.Value); err == nil && authorize {
			w.addNet(addr, t)
		}
	case "include":
		w.follow(domain, t.String(), target, depth, authorize)
	case "a":
		w.addHost(domain, target, t, authorize)
	case "mx":
		w.expandMX(domain, target, t, authorize)
	case "ptr":
		w.unexpanded(t.String())
		w.problem(spfWhere(domain) + t.String() + " is deprecated and slow (RFC 7208 §5.5: SHOULD NOT be used)")
	case "exists":
		w.unexpanded(t.String())
	}
}

// follow walks an include or redirect target, guarding against loops and
// excessive depth. An include reached through a non-"+" qualifier still
// counts its lookups but authorizes nothing.
func (w *spfWalker) follow(domain, term, target string, depth int, authorize bool) string {
	lt := strings.ToLower(strings.TrimSuffix(target, "."))
	for _, p := range w.path {
		if p == lt {
			w.problem(spfWhere(domain) + term + " loops back to " + lt + " (" + strings.Join(append(w.path, lt), " → ") +
				"): receivers run into the lookup limit and return permerror")
			return ""
		}
	}
	if depth+1 > spfMaxDepth {
		w.problem(spfWhere(domain) + term + ": nested deeper than " + strconv.Itoa(spfMaxDepth) + "; not followed")
		return ""
	}
	return w.walk(lt, term, depth+1, authorize)
}

// fetch gets and parses the SPF record of domain, reporting what is wrong
// with it. It returns nil when there is no usable record.
func (w *spfWalker) fetch(domain, via string) *Record {
	ans := w.lookup("TXT", domain)
	where := spfWhere(domain)
	if via != "" {
		where = via + ": "
	}
	var recs []string
	for _, t := range ans.txt {
		if IsRecord(t) {
			recs = append(recs, t)
		}
	}
	if via == "" {
		w.a.Records = recs
	}
	switch {
	case ans.err != nil && !dnsauth.IsNotFound(ans.err):
		w.dnsProblem(where, ans.err)
		return nil
	case len(recs) == 0:
		if via != "" {
			w.void(ans)
			w.problem(where + domain + " has no SPF record: receivers return permerror (RFC 7208 §5.2, §6.1)")
		} else if ans.err != nil {
			w.problem(domain + " does not exist: SPF result none")
		} else {
			w.problem(domain + " publishes no SPF record: SPF result none")
		}
		return nil
	case len(recs) > 1:
		w.problem(where + domain + " publishes " + strconv.Itoa(len(recs)) + " SPF records: receivers return permerror (RFC 7208 §4.5)")
		return nil
	}
	rec, err := Parse(recs[0])
	if err != nil {
		w.problem(where + domain + ": " + err.Error() + ": receivers return permerror")
		return nil
	}
	if via == "" {
		w.a.Record = rec
	}
	return rec
}

// addHost adds the addresses of an a term (or of one MX host).
func (w *spfWalker) addHost(domain, host string, t Term, authorize bool) {
	ans := w.lookup("A/AAAA", host)
	if ans.err != nil && !dnsauth.IsNotFound(ans.err) {
		w.dnsProblem(spfWhere(domain)+t.String()+": ", ans.err)
		return
	}
	if t.Mechanism == "a" {
		w.void(ans)
	}
	if !authorize {
		return
	}
	for _, ip := range ans.ips {
		if addr, ok := netip.AddrFromSlice(ip.IP); ok {
			w.addNet(addr.Unmap(), t)
		}
	}
}

// expandMX adds the addresses of every exchange of an mx term; more than
// 10 exchanges is a permerror (RFC 7208 §4.6.4).
func (w *spfWalker) expandMX(domain, target string, t Term, authorize bool) {
	ans := w.lookup("MX", target)
	if ans.err != nil && !dnsauth.IsNotFound(ans.err) {
		w.dnsProblem(spfWhere(domain)+t.String()+": ", ans.err)
		return
	}
	w.void(ans)
	mxs := ans.mx
	if len(mxs) > 10 {
		w.problem(spfWhere(domain) + t.String() + ": " + target + " has " + strconv.Itoa(len(mxs)) +
			" MX records, over the limit of 10: receivers return permerror (RFC 7208 §4.6.4)")
		mxs = mxs[:10]
	}
	for _, mx := range mxs {
		w.addHost(domain, strings.TrimSuffix(mx.Host, "."), t, authorize)
	}
}

// lookup sends one query (once per walk) unless the walk hit its cap.
func (w *spfWalker) lookup(qtype, name string) spfAnswer {
	key := qtype + " " + strings.ToLower(name)
	if ans, ok := w.answers[key]; ok {
		return ans
	}
	if w.queries >= spfMaxQueries {
		if !w.stopped {
			w.stopped = true
			w.problem("analysis stopped after " + strconv.Itoa(spfMaxQueries) + " DNS queries; the counts are a lower bound")
		}
		return spfAnswer{err: &net.DNSError{Err: "query budget spent", Name: name, IsTemporary: true}}
	}
	w.queries++
	var ans spfAnswer
	switch qtype {
	case "TXT":
		ans.txt, ans.err = w.dns.LookupTXT(w.ctx, name)
		ans.void = len(ans.txt) == 0
	case "MX":
		ans.mx, ans.err = w.dns.LookupMX(w.ctx, name)
		ans.void = len(ans.mx) == 0
	default:
		ans.ips, ans.err = w.dns.LookupIPAddr(w.ctx, name)
		ans.void = len(ans.ips) == 0
	}
	if ans.err != nil && !dnsauth.IsNotFound(ans.err) {
		ans.void = false
	}
	w.answers[key] = ans
	return ans
}

func (w *spfWalker) void(ans spfAnswer) {
	if ans.void {
		w.a.VoidLookups++
	}
}

func (w *spfWalker) dnsProblem(where string, err error) {
	if w.stopped && strings.Contains(err.Error(), "query budget spent") {
		return
	}
	w.a.TempError = true
	w.problem(where + "DNS error: " + err.Error())
}

func (w *spfWalker) addNet(addr netip.Addr, t Term) {
	bits := t.Prefix6
	if addr.Is4() {
		bits = t.Prefix4
	}
	if p, err := addr.Prefix(bits); err == nil {
		w.nets[p] = true
	}
}

func (w *spfWalker) unexpanded(term string) {
	if !w.seen["u "+term] {
		w.seen["u "+term] = true
		w.a.Unexpanded = append(w.a.Unexpanded, term)
	}
}

func (w *spfWalker) problem(p string) {
	if !w.seen["p "+p] {
		w.seen["p "+p] = true
		w.a.Problems = append(w.a.Problems, p)
	}
}

// finish adds the limit problems and sorts the networks.
func (w *spfWalker) finish() {
	if w.a.Lookups > 10 {
		w.problem(strconv.Itoa(w.a.Lookups) + " DNS-querying terms, over the limit of 10: receivers return permerror (RFC 7208 §4.6.4)")
	}
	if w.a.VoidLookups > 2 {
		w.problem(strconv.Itoa(w.a.VoidLookups) + " lookups find nothing, over the limit of 2: receivers may return permerror (RFC 7208 §4.6.4)")
	}
	if w.a.All == "+all" {
		w.problem("the policy ends in +all: every address on the Internet passes")
	}
	for p := range w.nets {
		w.a.Networks = append(w.a.Networks, p)
	}
	// Sorted before the problems are named, so they come in the same
	// order every time (the set is a map).
	slices.SortFunc(w.a.Networks, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	for _, p := range w.a.Networks {
		if (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 16) {
			w.problem(p.String() + " authorizes a huge part of the address space")
		}
	}
}

// spfWhere prefixes a problem with the domain whose record has it.
func spfWhere(domain string) string { return domain + ": " }
