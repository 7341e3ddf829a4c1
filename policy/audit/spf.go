package audit

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth/spf"
)

// spf judges the domain's SPF policy (RFC 7208) as other receivers will
// evaluate it: the walk through includes and redirects is the one the
// engine uses to learn relay networks.
func (da *domainAudit) spf() {
	a := spf.Analyze(da.ctx, da.e.DNS(), da.d.Name)
	da.d.SPF = spfFacts(a)
	if a.TempError {
		da.add("spf", Fail, "could not be checked: "+strings.Join(a.Problems, "; "),
			"run the audit again; if it persists, check the domain's name servers")
		return
	}
	if !da.spfRecord(a) {
		return
	}
	da.spfLimits(a)
	da.spfAll(a.All)
	da.spfOutbound(a)
	for _, p := range a.Problems {
		if isLimitProblem(a, p) {
			continue
		}
		s := Warn
		if strings.Contains(p, "permerror") {
			s = Fail
		}
		da.add("spf.terms", s, p, "fix the record it names")
	}
}

// spfRecord checks that there is exactly one record and that it parses;
// without that, nothing else about SPF matters.
func (da *domainAudit) spfRecord(a spf.Analysis) bool {
	switch n := len(a.Records); {
	case n == 0:
		da.add("spf.record", Fail, "no SPF record: receivers cannot tell your servers from forgers (SPF none)",
			`publish one TXT record "v=spf1 <your outbound servers> -all"`)
		return false
	case n > 1:
		da.add("spf.record", Fail, strconv.Itoa(n)+" SPF records: receivers return permerror (RFC 7208 §4.5), so SPF never passes",
			"merge them into one record")
		return false
	}
	if _, err := spf.Parse(a.Records[0]); err != nil {
		da.add("spf.record", Fail, "invalid: "+err.Error()+": receivers return permerror", "correct the record's syntax")
		return false
	}
	da.add("spf.record", Pass, a.Records[0], "")
	return true
}

// spfLimits checks the RFC 7208 §4.6.4 limits, counted through every
// include and redirect: over them, receivers return permerror.
func (da *domainAudit) spfLimits(a spf.Analysis) {
	if a.Lookups > 10 {
		da.add("spf.lookups", Fail, fmt.Sprintf("%d DNS lookups, over the limit of 10 (RFC 7208 §4.6.4): receivers return permerror, so SPF never passes", a.Lookups),
			"drop includes you no longer use, or replace them with ip4:/ip6: terms")
	} else {
		da.add("spf.lookups", Pass, fmt.Sprintf("%d of 10 DNS lookups", a.Lookups), "")
	}
	if a.VoidLookups > 2 {
		da.add("spf.void", Fail, fmt.Sprintf("%d lookups find nothing, over the limit of 2 (RFC 7208 §4.6.4): receivers may return permerror", a.VoidLookups),
			"remove the terms that name domains without records")
	} else {
		da.add("spf.void", Pass, fmt.Sprintf("%d of 2 void lookups", a.VoidLookups), "")
	}
}

// spfAll judges how the policy ends: only -all tells receivers to refuse
// what is not listed.
func (da *domainAudit) spfAll(all string) {
	switch all {
	case "-all":
		da.add("spf.all", Pass, "ends in -all: unlisted senders fail", "")
	case "~all":
		da.add("spf.all", Warn, "ends in ~all: unlisted senders only softfail, which leaves each receiver to decide (most accept them)",
			"end the record in -all once every sending service is listed")
	case "?all":
		da.add("spf.all", Fail, "ends in ?all: unlisted senders are neutral, so SPF says nothing about forgeries",
			"end the record in -all")
	case "+all":
		da.add("spf.all", Fail, "ends in +all: every address on the Internet passes SPF for this domain",
			"end the record in -all")
	default:
		da.add("spf.all", Fail, "no all term: unlisted senders are neutral (RFC 7208 §4.7), so SPF says nothing about forgeries",
			"end the record in -all")
	}
}

// spfOutbound checks that the configured own outbound servers are
// authorized: mail they send as the domain would fail SPF elsewhere.
func (da *domainAudit) spfOutbound(a spf.Analysis) {
	out := da.auditor.cfg.Networks.Outbound
	if len(out) == 0 {
		return
	}
	var missing []string
	for _, n := range out {
		if a.All != "+all" && !covered(a.Networks, n.Prefix) {
			missing = append(missing, prefixWords(n.Prefix))
		}
	}
	if len(missing) == 0 {
		da.add("spf.outbound", Pass, fmt.Sprintf("covers every outbound server (%d network(s) in networks.outbound)", len(out)), "")
		return
	}
	detail := "outbound server(s) " + strings.Join(missing, ", ") + " not authorized: mail they send as " + da.d.Name + " fails SPF at other receivers"
	if len(a.Unexpanded) > 0 {
		detail += " (unless " + strings.Join(a.Unexpanded, ", ") + " covers them; those terms cannot be listed)"
	}
	da.add("spf.outbound", Fail, detail, "add them to the record with ip4:/ip6: terms")
}

// prefixWords writes a single-host prefix as its address.
func prefixWords(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// covered reports whether every address of p is in one of nets.
func covered(nets []netip.Prefix, p netip.Prefix) bool {
	for _, n := range nets {
		if n.Bits() <= p.Bits() && n.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// isLimitProblem tells the problems the analysis reports that spfLimits
// and spfAll already judged, so they are not listed twice. The wording
// is dnsauth/spf's (spfWalker.finish).
func isLimitProblem(a spf.Analysis, p string) bool {
	return strings.HasPrefix(p, strconv.Itoa(a.Lookups)+" DNS-querying terms, over the limit") ||
		strings.HasPrefix(p, strconv.Itoa(a.VoidLookups)+" lookups find nothing, over the limit") ||
		strings.HasPrefix(p, "the policy ends in +all")
}

func spfFacts(a spf.Analysis) *SPFFacts {
	f := &SPFFacts{Records: nonNil(a.Records), Lookups: a.Lookups, VoidLookups: a.VoidLookups, All: a.All,
		Networks: []string{}, Unexpanded: nonNil(a.Unexpanded), Problems: nonNil(a.Problems)}
	for _, n := range a.Networks {
		f.Networks = append(f.Networks, n.String())
	}
	return f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
