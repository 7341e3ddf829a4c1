package audit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
)

// The words for a weak DMARC policy: the domain's forgeries get through at
// other receivers, while spoofguard's header-forgery rule refuses them
// here whatever the published policy says.
const policyAdvice = "once the aggregate reports show every legitimate sender aligned, move to p=quarantine, then p=reject"

// deliveredElsewhere says what a missing or p=none policy means, and
// whether spoofguard makes up for it here.
func (da *domainAudit) deliveredElsewhere() string {
	if da.cfg == nil {
		return "forgeries of this domain are delivered elsewhere"
	}
	return "forgeries of this domain are delivered elsewhere; spoofguard still rejects them here"
}

// dmarc judges the DMARC record that applies to the domain (RFC 7489,
// found as receivers find it: at the domain, else at its organizational
// domain).
func (da *domainAudit) dmarc() {
	rec, at, err := dmarc.Lookup(da.ctx, da.e.DNS(), da.d.Name)
	var recErr *dmarc.RecordError
	switch {
	case dnsauth.IsTemporary(err):
		da.add("dmarc", Fail, "could not be checked: "+err.Error(), "run the audit again; if it persists, check the domain's name servers")
		return
	case errors.Is(err, dmarc.ErrMultipleRecords):
		da.add("dmarc.record", Fail, "several DMARC records at _dmarc."+at+": receivers apply none (RFC 7489 §6.6.3)", "keep exactly one")
		return
	case errors.As(err, &recErr):
		da.add("dmarc.record", Fail, "invalid record at _dmarc."+at+": "+recErr.Reason+": receivers apply no policy", "correct the record")
		return
	case err != nil:
		da.add("dmarc", Fail, "could not be checked: "+err.Error(), "")
		return
	case rec == nil:
		da.add("dmarc.record", Fail, "no DMARC record: "+da.deliveredElsewhere(),
			`publish _dmarc.`+da.d.Name+` TXT "v=DMARC1; p=none; rua=mailto:...", then tighten the policy`)
		return
	}
	da.d.DMARC = &DMARCFacts{RecordDomain: at, Record: rec.Raw, P: rec.Policy, SP: rec.SubdomainPolicy,
		NP: rec.NonexistentPolicy, Pct: rec.Percent, RUA: nonNil(rec.RUA)}
	where := "_dmarc." + at
	if at != da.d.Name {
		where += " (the organizational domain's)"
	}
	if rec.Repaired != "" {
		da.add("dmarc.record", Warn, where+": "+rec.Raw+"; "+rec.Repaired, "write a valid p= tag")
	} else {
		da.add("dmarc.record", Pass, where+": "+rec.Raw, "")
	}
	da.dmarcPolicy(rec, at)
	da.dmarcExtent(rec)
}

// dmarcPolicy judges the policy that applies to mail from the domain: p
// at the domain itself, sp (when set) when the record is a parent's.
func (da *domainAudit) dmarcPolicy(rec *dmarc.Record, at string) {
	tag, policy := "p", rec.Policy
	if at != da.d.Name && rec.SubdomainPolicy != "" {
		tag, policy = "sp", rec.SubdomainPolicy
	}
	da.judgePolicy("dmarc.policy", tag, policy)
	if at == da.d.Name && rec.SubdomainPolicy != "" && strength(rec.SubdomainPolicy) < strength(rec.Policy) {
		da.judgePolicy("dmarc.sp", "sp", rec.SubdomainPolicy)
	}
}

func (da *domainAudit) judgePolicy(check, tag, policy string) {
	what := tag + "=" + policy
	if tag == "sp" {
		what += " for subdomains"
	}
	switch policy {
	case "reject":
		da.add(check, Pass, what+": receivers refuse forgeries", "")
	case "quarantine":
		da.add(check, Warn, what+": forgeries land in spam folders elsewhere", "move to "+tag+"=reject")
	default:
		da.add(check, Fail, what+": "+da.deliveredElsewhere(), policyAdvice)
	}
}

func strength(policy string) int {
	switch policy {
	case "reject":
		return 2
	case "quarantine":
		return 1
	}
	return 0
}

// dmarcExtent checks how much failing mail the policy covers and whether
// anyone hears about it.
func (da *domainAudit) dmarcExtent(rec *dmarc.Record) {
	if rec.Percent < 100 {
		da.add("dmarc.pct", Warn, fmt.Sprintf("pct=%d: only %d%% of failing mail gets the policy; the rest is treated one step more leniently (RFC 7489 §6.6.4)", rec.Percent, rec.Percent),
			"raise pct to 100")
	}
	if len(rec.RUA) == 0 {
		da.add("dmarc.rua", Warn, "no rua= address: nobody receives the aggregate reports that show who sends as this domain",
			"add rua=mailto:<a mailbox you read>")
	} else {
		da.add("dmarc.rua", Pass, "aggregate reports go to "+strings.Join(rec.RUA, ", "), "")
	}
}
