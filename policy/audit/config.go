package audit

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spoofguard/spoofguard/config"
)

// localRanges are the networks that cannot be reached from the Internet
// at large: loopback, private (RFC 1918, RFC 4193), link-local and
// shared address space (RFC 6598).
var localRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// isLocal reports whether every address of p is in a local range.
func isLocal(p netip.Prefix) bool {
	for _, l := range localRanges {
		if l.Bits() <= p.Bits() && l.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// internetWide reports whether p, unless local, is wider than any one organisation's
// mail servers plausibly are: an IPv4 network shorter than /8 or an IPv6
// network shorter than /32 (the smallest regular RIR allocation).
func internetWide(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() < 8
	}
	return p.Bits() < 32
}

// configFindings judges the configuration as a whole.
func (a *auditor) configFindings() []Finding {
	var out []Finding
	add := func(check string, s Status, detail, advice string) {
		out = append(out, Finding{Check: check, Status: s, Detail: detail, Advice: advice})
	}
	a.exemptFindings(add, "networks.trusted", a.cfg.Networks.Trusted, trustedWords)
	a.exemptFindings(add, "networks.outbound", a.cfg.Networks.Outbound, outboundWords)
	a.wideFindings(add, "allow.networks", a.cfg.Allow.Networks,
		"every client there skips the DMARC and SPF outcomes")
	for _, r := range a.cfg.Relays {
		a.relayFindings(add, r)
	}
	if out == nil {
		out = []Finding{}
	}
	return out
}

type addFunc func(check string, s Status, detail, advice string)

// exemptWords say what an exempt network list means for a FAIL (an
// Internet-wide entry), a WARN (a public one) and what to do instead.
type exemptWords struct {
	wide, wideAdvice, public, publicAdvice string
}

// A trusted client skips every check, so a trusted network that holds
// hosts taking mail from the Internet is door 4 of the spec, and an
// Internet-wide one switches spoofguard off.
var trustedWords = exemptWords{
	wide: "every client there skips every check", wideAdvice: "trust only the hosts that submit mail locally",
	public:       "clients there skip every check, so a host there that accepts mail from the Internet is a back door",
	publicAdvice: "put own mail servers in networks.outbound and filters in [[relay]]; keep trusted for local submission",
}

// An outbound client may send as the protected domains. Mail such a host
// took from an unauthenticated Internet client is judged by its Received
// header, but a host that also accepts mail from the Internet stays a
// risk: it may write no header the check can read, or relay for
// authenticated users whose accounts are stolen.
var outboundWords = exemptWords{
	wide: "every client there may send as your protected domains", wideAdvice: "list the exact networks",
	public:       "clients there may send as your protected domains, so a host there that also accepts mail from the Internet is a back door",
	publicAdvice: "list only your own sending servers, and let them accept mail from outside only with SMTP AUTH",
}

// exemptFindings judges a list of networks whose clients are exempt from
// some checks: an Internet-wide entry FAILs, a public one WARNs, and a
// list of local ranges only PASSes.
func (a *auditor) exemptFindings(add addFunc, key string, nets []config.Network, w exemptWords) {
	var local []string
	for _, n := range nets {
		p := n.Prefix
		switch {
		case isLocal(p):
			local = append(local, p.String())
		case internetWide(p):
			add(key, Fail, p.String()+" covers a large part of the Internet: "+w.wide, w.wideAdvice)
		default:
			add(key, Warn, p.String()+" is a public range: "+w.public, w.publicAdvice)
		}
	}
	// A PASS only when it is true of the whole list: beside a FAIL or WARN
	// above, "local ranges only" would be wrong and count as a pass.
	if len(local) == len(nets) && (len(nets) > 0 || key == "networks.trusted") {
		add(key, Pass, "local ranges only: "+orNone(strings.Join(local, ", ")), "")
	}
}

// wideFindings reports Internet-wide entries of a network list.
func (a *auditor) wideFindings(add addFunc, key string, nets []config.Network, consequence string) {
	if len(nets) == 0 {
		return
	}
	wide := false
	for _, n := range nets {
		if internetWide(n.Prefix) && !isLocal(n.Prefix) {
			wide = true
			add(key, Fail, n.Prefix.String()+" covers a large part of the Internet: "+consequence, "list the exact networks")
		}
	}
	if !wide {
		add(key, Pass, fmt.Sprintf("%d network(s), none Internet-wide", len(nets)), "")
	}
}

// relayFindings: a relay whose set is empty (its SPF-published part came
// out empty or could not be fetched) turns all of its mail into "direct
// delivery", or leaves it unjudged.
func (a *auditor) relayFindings(add addFunc, r config.RelayConfig) {
	check := "relay " + quote(r.Name)
	for _, n := range r.Networks {
		if internetWide(n.Prefix) && !isLocal(n.Prefix) {
			add(check, Fail, n.Prefix.String()+" covers a large part of the Internet: any client there can claim to be the filter and name any original client",
				"list the relay's exact networks")
		}
	}
	nets, status := a.e.RelayNetworks(r.Name)
	if len(nets) == 0 {
		add(check, Fail, "no networks: "+status, "list the relay's networks, or fix the spf = domains so that they publish its addresses")
		return
	}
	add(check, Pass, fmt.Sprintf("%d network(s): %s", len(nets), status), "")
}

// configChecks judges the domain's place in the configuration: whether it
// is protected at all, and whether an allow-list entry covers it.
func (da *domainAudit) configChecks() {
	if da.cfg == nil {
		da.add("protected", Warn, da.d.Name+" is not a protected domain in the configuration: forgeries of it are not refused here",
			"if it is your own domain, add a [[domain]] table for it")
	} else {
		how := "edge MX (no relay)"
		if da.cfg.Via != "" {
			how = "inbound only through relay " + quote(da.cfg.Via)
		}
		if da.cfg.Name != da.d.Name {
			how += ", as a subdomain of " + da.cfg.Name
		}
		da.add("protected", Pass, "in the configuration: "+how, "")
	}
	allow := da.auditor.cfg.Allow
	for _, l := range []struct {
		key  string
		list []string
	}{{"allow.sender_domains", allow.SenderDomains}, {"allow.dkim_domains", allow.DKIMDomains}} {
		for _, p := range l.list {
			if overlaps(da.d.Name, p) {
				da.add("allow-list", Fail, l.key+" lists "+p+": mail claiming "+da.d.Name+" skips the DMARC and SPF outcomes, which lets exactly its forgeries through",
					"remove it from "+l.key+" and protect the domain instead")
			}
		}
	}
}

// overlaps reports whether one domain is the other or below it.
func overlaps(a, b string) bool {
	a, b = normalize(a), normalize(b)
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

func quote(s string) string { return "\"" + s + "\"" }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
