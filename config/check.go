package config

// Validation of a decoded configuration. Each check reports through the
// decoder, which knows where every key was written; checks on values that
// already failed to decode are suppressed there. Normalisation happens
// here too, so the engine only ever sees canonical names.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validate checks every value of c, fills in the defaults that depend
// on other keys, and normalises names.
func validate(d *decoder, c *Config) {
	v := &checker{d: d, c: c}
	v.milter()
	v.log()
	v.metrics()
	v.dns()
	v.networks()
	v.relays()
	v.domains()
	v.dmarc()
	v.action("spf.on_fail", c.SPF.OnFail, nil)
	v.intIn("dkim.max_signatures", c.DKIM.MaxSignatures, 1, 64)
	v.allow()
	v.store()
	v.backscatter()
}

type checker struct {
	d *decoder
	c *Config
}

func (v *checker) report(path, format string, args ...any) {
	v.d.report(path, format, args...)
}

func (v *checker) milter() {
	m := &v.c.Milter
	if m.AuthservID == "" {
		m.AuthservID = hostname()
	} else if err := checkAuthservID(m.AuthservID); err != nil {
		v.report("milter.authserv_id", "%v", err)
	}
	v.mode("milter.mode", m.Mode)
	if m.SocketGroup != "" && !simpleName(m.SocketGroup, 32) {
		v.report("milter.socket_group", "invalid group name %s", quote(m.SocketGroup))
	}
	if err := checkFieldName(m.VerdictHeader); err != nil {
		v.report("milter.verdict_header", "%v", err)
	}
	v.durationIn("milter.drain_timeout", m.DrainTimeout, 0, time.Hour, "between 0s and 1h")
	v.intIn("milter.max_sessions", m.MaxSessions, 0, 100_000)
}

func (v *checker) log() {
	v.oneOf("log.format", "log format", v.c.Log.Format, "text", "json")
	v.oneOf("log.output", "log output", v.c.Log.Output, "stderr", "syslog")
}

func (v *checker) metrics() {
	l := v.c.Metrics.Listen
	if l == "" {
		return
	}
	addr, err := hostPort(l)
	if err != nil {
		v.report("metrics.listen", "invalid listen address %s: want HOST:PORT such as \"127.0.0.1:9891\"", quote(l))
		return
	}
	// A milter.listen that failed to decode holds the default, which
	// the file did not ask for.
	if ml := v.c.Milter.Listen; !v.d.failed["milter.listen"] && samePort(ml, addr) {
		v.report("metrics.listen", "%s is also milter.listen (%s); the two need different ports", addr, ml)
	}
}

func (v *checker) dns() {
	c := &v.c.DNS
	for i, s := range c.Servers {
		if norm, err := dnsServer(s); err != nil {
			v.report(index("dns.servers", i), "%v", err)
		} else {
			c.Servers[i] = norm
		}
	}
	v.durationIn("dns.timeout", c.Timeout, time.Millisecond, time.Minute, "between 1ms and 1m")
	v.intIn("dns.attempts", c.Attempts, 1, 10)
	v.intIn("dns.cache_size", c.CacheSize, 0, 10_000_000)
	v.action("dns.on_temperror", c.OnTemperror, map[Action]string{
		ActionReject: "a DNS failure (timeout, SERVFAIL) is temporary and says nothing about the message, " +
			"so it must never become a permanent reject; use tempfail (the sender retries later), quarantine or accept",
	})
}

func (v *checker) networks() {
	n := &v.c.Networks
	v.notEverything("networks.trusted", n.Trusted, "every client would be trusted and skip all checks")
	v.notEverything("networks.outbound", n.Outbound, "every client could send as your protected domains unchecked")
	v.notEverything("networks.internal", n.Internal, "mail an outbound server takes from the Internet would never be checked")
}

// notEverything refuses a /0 in a list whose members are exempt from
// checks: it would switch the product off without saying so.
func (v *checker) notEverything(path string, nets []Network, why string) {
	for i, n := range nets {
		if n.IsValid() && n.Bits() == 0 {
			v.report(index(path, i), "%s covers every address: %s", n, why)
		}
	}
}

func (v *checker) relays() {
	first := map[string]int{}
	for i := range v.c.Relays {
		r := &v.c.Relays[i]
		p := index("relay", i)
		v.relayName(p, i, r.Name, first)
		if len(r.Networks) == 0 && len(r.SPF) == 0 {
			v.report(p, "relay %s has neither networks nor spf: nothing could be recognised as coming through it", quote(r.Name))
		}
		v.notEverything(p+".networks", r.Networks,
			"every client would count as this relay, and the Received header it \"added\", which anyone can write, would choose the address that gets checked")
		v.relayOverlaps(p+".networks", r.Networks)
		v.domainNames(p+".spf", r.SPF, true)
		v.intIn(p+".hops", r.Hops, 1, 10)
		v.action(p+".trace_error", r.TraceError, nil)
		v.relayTrust(p, r)
	}
}

func (v *checker) relayName(p string, i int, name string, first map[string]int) {
	switch j, dup := first[name]; {
	case name == "":
		v.report(p+".name", "required: every [[relay]] needs a name for domain.via to refer to")
	case !simpleName(name, 64):
		v.report(p+".name", "invalid relay name %s: use letters, digits, '.', '_' and '-'", quote(name))
	case dup:
		v.report(p+".name", "duplicate relay name %s (first at line %d)", quote(name), v.d.line(index("relay", j)))
	default:
		first[name] = i
	}
}

// relayOverlaps refuses relay addresses that an earlier client class
// already claims. Classification takes the first match (trusted, then
// outbound, then relay), so mail through such a relay would silently skip
// the checks it is supposed to get: the "trusted relay open to the
// Internet" back door.
func (v *checker) relayOverlaps(path string, nets []Network) {
	classes := []struct {
		key  string
		nets []Network
		why  string
	}{
		{"networks.trusted", v.c.Networks.Trusted, "trusted clients skip every check"},
		{"networks.outbound", v.c.Networks.Outbound, "outbound clients may send as the protected domains unchecked"},
	}
	for i, n := range nets {
		if !n.IsValid() {
			continue
		}
		for _, cl := range classes {
			if o, ok := overlap(n.Prefix, cl.nets); ok {
				v.report(index(path, i), "%s overlaps %s %s, which is matched first: %s, so mail through this relay from there would never be checked", n, cl.key, o, cl.why)
				break
			}
		}
	}
}

func overlap(p netip.Prefix, nets []Network) (netip.Prefix, bool) {
	for _, n := range nets {
		if n.IsValid() && n.Overlaps(p) {
			return n.Prefix, true
		}
	}
	return netip.Prefix{}, false
}

func (v *checker) domains() {
	first := map[string]int{}
	for i := range v.c.Domains {
		dm := &v.c.Domains[i]
		p := index("domain", i)
		v.domainName(p+".name", dm, i, first)
		if dm.Subdomains == nil {
			dm.Subdomains = boolPtr(true)
		}
		v.via(p+".via", dm.Via)
		if dm.Mode != "" {
			v.mode(p+".mode", dm.Mode)
		}
		v.action(p+".direct_delivery", dm.DirectDelivery, nil)
		v.action(p+".envelope_forgery", dm.EnvelopeForgery, nil)
		v.action(p+".header_forgery", dm.HeaderForgery, nil)
		v.impersonation(p, dm)
		v.senders(p, dm)
	}
}

func (v *checker) domainName(path string, dm *DomainConfig, i int, first map[string]int) {
	if dm.Name == "" {
		v.report(path, "required: every [[domain]] needs the name of the domain it protects")
		return
	}
	norm, err := domainName(dm.Name, false)
	if err != nil {
		v.report(path, "%v", err)
		return
	}
	if publicSuffix(norm) {
		v.report(path, "%s is a public suffix, not a domain of yours: protecting it would treat mail from every domain under it as your own", norm)
		return
	}
	if j, dup := first[norm]; dup {
		v.report(path, "duplicate domain %s (first at line %d)", norm, v.d.line(index("domain", j)))
		return
	}
	first[norm] = i
	dm.Name = norm
}

func (v *checker) via(path, via string) {
	if via == "" || v.c.Relay(via) != nil {
		return
	}
	var names []string
	for _, r := range v.c.Relays {
		if q := strconv.Quote(r.Name); r.Name != "" && !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	if len(names) == 0 {
		v.report(path, "no [[relay]] is named %s (none is configured); add one, or set via = \"\" for a domain whose MX is this server", quote(via))
		return
	}
	v.report(path, "no [[relay]] is named %s; configured relays: %s", quote(via), strings.Join(names, ", "))
}

func (v *checker) dmarc() {
	c := &v.c.DMARC
	if c.Enabled == nil {
		c.Enabled = boolPtr(true)
	}
	v.action("dmarc.on_reject", c.OnReject, nil)
	v.action("dmarc.on_quarantine", c.OnQuarantine, nil)
}

func (v *checker) allow() {
	a := &v.c.Allow
	v.notEverything("allow.networks", a.Networks, "every client would be exempt from DMARC and SPF; set dmarc.enabled = false if that is the intent")
	v.domainNames("allow.sender_domains", a.SenderDomains, false)
	v.domainNames("allow.dkim_domains", a.DKIMDomains, false)
	v.allowDomains("allow.sender_domains", a.SenderDomains)
	v.allowDomains("allow.dkim_domains", a.DKIMDomains)
}

// allowDomains refuses allow-list entries that touch a protected domain.
// An entry covers its subdomains, so a parent of a protected domain is
// refused as well as the domain itself and the subdomains it protects.
// The spec is firm: allow-listing the own domain is door number two for
// forged mail, because forgers write exactly that domain as the sender.
func (v *checker) allowDomains(path string, names []string) {
	idx := newDomainIndex(v.c.Domains)
	for i, name := range names {
		if why, d := idx.overlap(v.c.Domains, name); why != "" {
			v.report(index(path, i), "%s ([[domain]] at line %d): allow-listing it would let exactly the forged mail through, "+
				"since forgers write the protected domain as the sender; authorise its real senders with SPF, DKIM or networks.outbound instead",
				why, v.d.line(index("domain", d)))
		}
	}
}

// domainIndex finds protected domains related to a name in time linear
// in the name's labels, so that long lists on both sides stay cheap.
type domainIndex struct {
	exact   map[string]int // protected name → index of its [[domain]]
	parents map[string]int // every proper parent of a protected name → one such [[domain]]
}

func newDomainIndex(domains []DomainConfig) domainIndex {
	idx := domainIndex{exact: map[string]int{}, parents: map[string]int{}}
	for i, d := range domains {
		if _, dup := idx.exact[d.Name]; d.Name == "" || dup {
			continue
		}
		idx.exact[d.Name] = i
		for p := parentDomain(d.Name); p != ""; p = parentDomain(p) {
			if _, ok := idx.parents[p]; !ok {
				idx.parents[p] = i
			}
		}
	}
	return idx
}

// overlap explains how name touches a protected domain, and which one.
func (idx domainIndex) overlap(domains []DomainConfig, name string) (string, int) {
	if i, ok := idx.exact[name]; ok {
		return name + " is a protected domain", i
	}
	for p := parentDomain(name); p != ""; p = parentDomain(p) {
		if i, ok := idx.exact[p]; ok && domains[i].IncludesSubdomains() {
			return fmt.Sprintf("%s is protected as a subdomain of %s", name, p), i
		}
	}
	if i, ok := idx.parents[name]; ok {
		return fmt.Sprintf("%s contains the protected domain %s", name, domains[i].Name), i
	}
	return "", 0
}

// parentDomain strips the first label ("" for a single label).
func parentDomain(name string) string {
	_, parent, _ := strings.Cut(name, ".")
	return parent
}

// domainNames normalises a list of domain names in place. Mail and DKIM
// domains are host names (RFC 5321 §4.1.2, RFC 6376 §3.5); only the SPF
// record names of a relay may have underscore labels, such as
// "_spf.filter.example".
func (v *checker) domainNames(path string, names []string, underscore bool) {
	for i, s := range names {
		p := index(path, i)
		norm, err := domainName(s, underscore)
		switch {
		case err != nil:
			v.report(p, "%v", err)
		case strings.HasPrefix(path, "allow.") && publicSuffix(norm):
			v.report(p, "%s is a public suffix: allow-listing it would exempt every domain under it", norm)
		default:
			names[i] = norm
		}
	}
}

func (v *checker) mode(path string, m Mode) {
	v.oneOf(path, "mode", string(m), string(ModeEnforce), string(ModeReportOnly))
}

// action checks an action, refusing those that make no sense for the key
// (refused maps them to the reason).
func (v *checker) action(path string, a Action, refused map[Action]string) {
	if !v.oneOf(path, "action", string(a), string(ActionAccept), string(ActionReject), string(ActionQuarantine), string(ActionTempFail)) {
		return
	}
	if why, ok := refused[a]; ok {
		v.report(path, "%q is not allowed here: %s", a, why)
	}
}

func (v *checker) oneOf(path, what, got string, choices ...string) bool {
	if slices.Contains(choices, got) {
		return true
	}
	v.report(path, "unknown %s %s: want %s", what, quote(got), joinChoices(quoteAll(choices)))
	return false
}

// quoteAll quotes each choice for a message.
func quoteAll(choices []string) []string {
	quoted := make([]string, len(choices))
	for i, c := range choices {
		quoted[i] = strconv.Quote(c)
	}
	return quoted
}

func (v *checker) intIn(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.report(path, "%d is out of range: want %d to %d", n, lo, hi)
	}
}

func (v *checker) durationIn(path string, d Duration, lo, hi time.Duration, want string) {
	if d.Duration < lo || d.Duration > hi {
		v.report(path, "%s is out of range: want %s", d.Duration, want)
	}
}

// joinChoices joins "a", "b" and "c" as "a, b or c".
func joinChoices(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
