// Package audit looks for the back doors through which forgeries of the
// protected domains get in, or get out to other receivers: the DNS posture
// of each domain and the configuration itself. It is `spoofguard audit`.
//
// For each domain it checks SPF (present, one record, valid, within the
// RFC 7208 limits of 10 DNS lookups and 2 void lookups, ending in -all,
// covering the configured outbound servers), DMARC (present, valid, its
// policy, sp, pct and reporting address), and the ways in: for a domain
// that takes mail only through a filtering relay, every MX host must
// resolve inside the relay's networks (an MX outside them is an unfiltered
// back door, typically a forgotten backup MX), and the names that
// typically reach the back end (the apex, mail., smtp., mx.) are reported
// when they resolve outside the relay set. In the configuration it looks
// for trusted networks that reach into the Internet, relay sets that came
// out empty, and allow-list entries that cover an audited domain.
//
// Every finding is PASS, WARN or FAIL, with what was found and one line of
// advice. The relay networks are the engine's (policy.Engine.RelayNetworks,
// SPF-published ones included), so the audit and the daemon agree on what
// "inside the relay set" means.
//
// # JSON
//
// `spoofguard audit --json` prints the Report as one JSON object. Its
// field names are an interface and do not change:
//
//	config[]     findings about the configuration: {check, status, detail, advice}
//	domains[]    {domain, protected, via, findings[], spf, dmarc, mx[]}
//	  spf        {records[], lookups, void_lookups, all, networks[], unexpanded[], problems[]}; null when not fetched
//	  dmarc      {record_domain, record, p, sp, np, pct, rua[]}; null when there is no usable record
//	  mx[]       {host, preference, addresses[], outside_relay[]}
//	summary      {pass, warn, fail}: the findings counted by status
//
// status is "PASS", "WARN" or "FAIL".
package audit

import (
	"context"
	"strings"

	"golang.org/x/net/idna"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/policy"
)

// Status is the verdict of one finding.
type Status string

// The three statuses: PASS needs nothing, WARN deserves a look, FAIL is a
// door left open (and makes `spoofguard audit` exit non-zero).
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Finding is one thing checked.
type Finding struct {
	Check  string `json:"check"`  // what was checked: "spf.all", "dmarc.policy", "mx.relay", ...
	Status Status `json:"status"` // PASS, WARN or FAIL
	Detail string `json:"detail"` // what was found
	Advice string `json:"advice"` // one line: what to do; "" when nothing
}

// Domain is the audit of one domain.
type Domain struct {
	Name      string      `json:"domain"`
	Protected bool        `json:"protected"`
	Via       string      `json:"via"`
	Findings  []Finding   `json:"findings"`
	SPF       *SPFFacts   `json:"spf"`
	DMARC     *DMARCFacts `json:"dmarc"`
	MX        []MXHost    `json:"mx"`
}

// SPFFacts is what the SPF walk found.
type SPFFacts struct {
	Records     []string `json:"records"`
	Lookups     int      `json:"lookups"`
	VoidLookups int      `json:"void_lookups"`
	All         string   `json:"all"`
	Networks    []string `json:"networks"`
	Unexpanded  []string `json:"unexpanded"`
	Problems    []string `json:"problems"`
}

// DMARCFacts is the DMARC record that applies to the domain.
type DMARCFacts struct {
	RecordDomain string   `json:"record_domain"`
	Record       string   `json:"record"`
	P            string   `json:"p"`
	SP           string   `json:"sp"`
	NP           string   `json:"np"`
	Pct          int      `json:"pct"`
	RUA          []string `json:"rua"`
}

// MXHost is one mail exchanger of the domain.
type MXHost struct {
	Host         string   `json:"host"`
	Preference   uint16   `json:"preference"`
	Addresses    []string `json:"addresses"`
	OutsideRelay []string `json:"outside_relay"` // addresses not in the relay set; empty for edge domains
}

// Summary counts the findings by status.
type Summary struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// Report is the whole audit.
type Report struct {
	Config  []Finding `json:"config"`
	Domains []Domain  `json:"domains"`
	Summary Summary   `json:"summary"`
}

// Failed reports whether any finding is a FAIL.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// Run audits the named domains, or every protected domain of the
// engine's configuration when names is empty. It never fails: DNS trouble
// becomes a FAIL finding saying what could not be checked.
func Run(ctx context.Context, e *policy.Engine, names []string) *Report {
	a := &auditor{ctx: ctx, e: e, cfg: e.Config()}
	r := &Report{Config: a.configFindings(), Domains: []Domain{}}
	if len(names) == 0 {
		for _, d := range a.cfg.Domains {
			names = append(names, d.Name)
		}
	}
	for _, n := range names {
		r.Domains = append(r.Domains, a.domain(normalize(n)))
	}
	r.count()
	return r
}

func (r *Report) count() {
	add := func(fs []Finding) {
		for _, f := range fs {
			switch f.Status {
			case Pass:
				r.Summary.Pass++
			case Warn:
				r.Summary.Warn++
			case Fail:
				r.Summary.Fail++
			}
		}
	}
	add(r.Config)
	for _, d := range r.Domains {
		add(d.Findings)
	}
}

// auditor carries one audit run.
type auditor struct {
	ctx context.Context
	e   *policy.Engine
	cfg *config.Config
}

// domainAudit collects the findings of one domain.
type domainAudit struct {
	*auditor
	d   *Domain
	cfg *config.DomainConfig // nil when the domain is not protected
}

func (da *domainAudit) add(check string, s Status, detail, advice string) {
	da.d.Findings = append(da.d.Findings, Finding{Check: check, Status: s, Detail: detail, Advice: advice})
}

// domain audits one domain: its place in the configuration, SPF, DMARC,
// and the ways mail gets in.
func (a *auditor) domain(name string) Domain {
	da := &domainAudit{auditor: a, d: &Domain{Name: name, Findings: []Finding{}, MX: []MXHost{}}}
	if dc := a.cfg.Domain(name); dc != nil {
		da.cfg = dc
		da.d.Protected, da.d.Via = true, dc.Via
	}
	da.configChecks()
	if !da.exists() {
		return *da.d
	}
	da.spf()
	da.dmarc()
	da.mx()
	return *da.d
}

// exists reports whether the domain is in the DNS at all. A name that
// does not exist (NXDOMAIN) has no SPF, DMARC or MX to judge: saying "no
// SPF record" would send the administrator to fix a record where the
// fault is the name, typically a typo in the configuration.
func (da *domainAudit) exists() bool {
	_, err := da.e.DNS().LookupTXT(da.ctx, da.d.Name)
	if !dnsauth.IsNotFound(err) {
		return true
	}
	advice := "check the spelling of the name"
	if da.cfg != nil {
		advice = "check the spelling of this [[domain]] name in the configuration"
	}
	da.add("exists", Fail, da.d.Name+" does not exist in the DNS (NXDOMAIN): there is nothing to audit", advice)
	return false
}

// normalize writes a domain name as the configuration does and DNS
// needs it: an A-label (RFC 5891) in lower case, without a final dot. A
// name IDNA refuses is kept as typed; its lookups then find nothing.
func normalize(name string) string {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if a, err := idna.Lookup.ToASCII(n); err == nil {
		return a
	}
	return n
}
