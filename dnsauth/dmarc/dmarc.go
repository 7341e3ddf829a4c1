// Package dmarc tells whether the author domain of a message was
// authenticated: an SPF pass for the RFC5321.MailFrom domain or a DKIM
// pass whose d= is aligned with the RFC5322.From domain, and which policy
// the domain owner asks for when neither is. This package holds the record
// parser (record.go), policy discovery (lookup.go), the organizational
// domain (orgdomain.go), identifier alignment and the final result.
//
// Discovery follows RFC 7489 with the DMARCbis additions
// (draft-ietf-dmarc-dmarcbis-41): the np=, psd= and t= tags and the DNS
// tree walk (§4.10). The two discovery methods are combined like this:
//
//  1. The tree walk runs first, always: it queries _dmarc.<From domain>
//     and then the parent names (at most 8 queries; names of 8 labels or
//     more jump to their last 7 labels), stopping early only at a record
//     with psd=n, or with psd=y above the From domain. RFC 7489's two
//     queries (the From domain, then its PSL organizational domain) are a
//     subset of the walk's, because an organizational domain never has
//     more than 7 labels. The walk goes on past a record it finds: a
//     psd= tag higher up changes the organizational domain.
//  2. A record at the From domain itself applies, with p=. Both agree.
//  3. When the walk met a psd= tag, the publisher has told us where the
//     organizational boundary is, and DMARCbis decides: the
//     organizational domain is chosen by §4.10.2 (psd=n marks it,
//     psd=y marks the level above it) and both policy discovery and
//     relaxed alignment use it. The PSL is not consulted.
//  4. Otherwise RFC 7489 §6.6.3 decides: the record of the PSL
//     organizational domain applies (sp=/np=/p=), and relaxed alignment
//     compares PSL organizational domains (§3.2).
//  5. When the PSL organizational domain has no record either, the walk
//     fills the gap: a record between the From domain and the PSL
//     organizational domain (e.g. _dmarc.mail.example.com for
//     a.mail.example.com) applies as DMARCbis would apply it. Records above
//     the PSL organizational domain without psd=y are not applied: RFC
//     7489 never looks there and DMARCbis requires a public suffix
//     operator to say psd=y.
//
// Where the two disagree, and what is done here by default:
//   - Several DMARC records at one name: RFC 7489 §6.6.3 ends discovery
//     and applies no DMARC (result none); DMARCbis discards them and walks
//     on. The RFC is followed at the From domain and at the PSL
//     organizational domain; elsewhere on the walk the names are skipped.
//   - A record only at a subdomain (my.example.org publishes, example.org
//     does not): for RFC 7489 my.example.org and example.org are aligned
//     (same PSL organizational domain); for DMARCbis they are not. The
//     PSL is followed unless a psd= tag was met (step 3).
//   - No record anywhere: the organizational domain reported is the PSL's
//     (RFC 7489); DMARCbis makes it the From domain itself.
//   - pct=: removed by DMARCbis, applied here (RFC 7489 §6.6.4). t=y is
//     applied too, as a pct of 0.
//
// Options.DMARCbis switches to the draft throughout: alignment by
// tree walk, pct= ignored, several records skipped everywhere.
//
// A temporary DNS failure anywhere in discovery or alignment makes the
// result temperror, never fail: a policy must not be applied on a guess.
package dmarc

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	spfauth "github.com/spoofguard/spoofguard/dnsauth/spf"
	"github.com/spoofguard/spoofguard/header"
)

// Result is the outcome of DMARC for one RFC5322.From domain.
type Result struct {
	Result       dnsauth.Result // pass, fail, none, temperror, permerror
	FromDomain   string         // the author domain evaluated
	OrgDomain    string         // its organizational domain
	RecordDomain string         // the name whose _dmarc record applied ("" when none)
	Record       *Record        // the record that applied, as parsed (its text is Record.Raw); nil when none
	RecordErr    error          // why Record cannot be used (a *RecordError; the result is then permerror)
	Policy       string         // the policy for this message: "none", "quarantine" or "reject"
	PolicyTag    string         // where Policy came from: "p", "sp" or "np"
	Sampled      bool           // false when pct sampling exempted this message from Policy
	SPFAligned   bool
	DKIMAligned  bool
	AlignedDKIM  string // d= of the signature that aligned, if any
	Reason       string // one line saying why
}

// Input is what DMARC needs about one message.
type Input struct {
	FromDomain string          // the RFC5322.From domain
	SPF        *spfauth.Result // the MAIL FROM identity (RFC 7208 §2.4: postmaster@HELO for the null path); nil = none
	DKIM       []dkim.Result   // every signature's result
}

// Options tunes Check.
type Options struct {
	// Rand returns 0..99 for pct= sampling; nil uses math/rand/v2.
	Rand func() int
	// DMARCbis follows draft-ietf-dmarc-dmarcbis-41 throughout: relaxed
	// alignment compares tree-walk organizational domains, pct= is
	// ignored, and several records at one name are skipped everywhere.
	// The default is RFC 7489 with the DMARCbis additions (see the top of
	// this file).
	DMARCbis bool
}

// Check evaluates DMARC for one author domain: discovery, identifier
// alignment of the SPF and DKIM results given, and the policy that
// applies when they do not align. Alignment is reported even when the
// domain publishes no record, because spoofguard's own-domain rule needs
// it whatever the domain publishes (relaxed alignment is assumed then).
//
// Policy and PolicyTag are set for pass and fail. On fail they are what
// to apply, after pct= and t=; on pass they are the published policy, for
// reports (an np= is not considered then: the existence of the author
// domain is only looked up when a failing message needs it).
func Check(ctx context.Context, dns dnsauth.DNS, in Input, opts Options) Result {
	c := &dmarcCheck{ctx: ctx, dns: dns, in: in, opts: opts, walks: map[string]*dmarcWalk{}}
	return c.run()
}

// dmarcCheck carries one evaluation; walks caches the tree walks made for
// DMARCbis alignment so each identifier is walked once.
type dmarcCheck struct {
	ctx   context.Context
	dns   dnsauth.DNS
	in    Input
	opts  Options
	disc  *dmarcDiscovery
	walks map[string]*dmarcWalk
	res   Result
}

func (c *dmarcCheck) run() Result {
	from := header.NormalizeDomain(c.in.FromDomain)
	c.res.FromDomain = from
	c.res.OrgDomain = OrgDomain(from)
	if from == "" || !dmarcQueryable("_dmarc."+from) {
		// PSL alignment only: no DNS is asked for such a name.
		return c.withoutPolicy(dnsauth.None, fmt.Sprintf("author domain %q is not a DNS name", c.in.FromDomain))
	}
	c.disc = dmarcDiscover(c.ctx, c.dns, from, c.opts.DMARCbis)
	c.res.OrgDomain = c.disc.org
	switch d := c.disc; {
	case d.tempErr != nil:
		c.bisUnusable()
		return c.withoutPolicy(dnsauth.TempError, "temporary DNS failure during policy discovery: "+d.tempErr.Error())
	case d.multiple != "":
		return c.withoutPolicy(dnsauth.None, fmt.Sprintf("%d DMARC records at _dmarc.%s: none applies (RFC 7489 §6.6.3)", d.count, d.multiple))
	case d.source == nil:
		return c.withoutPolicy(dnsauth.None, "no DMARC record for "+from)
	}
	src := c.disc.source
	// The parsed record travels with the result, so that nothing
	// downstream (the report of `spoofguard check`) parses it again.
	c.res.RecordDomain, c.res.Record, c.res.RecordErr = src.name, src.rec, src.err
	if src.err != nil {
		return c.withoutPolicy(dnsauth.PermError, src.err.Error())
	}
	return c.evaluate(src.rec)
}

// withoutPolicy ends an evaluation that has no usable record: alignment
// is still computed, relaxed, for the own-domain rule; a temporary failure
// while doing so makes the result temperror.
func (c *dmarcCheck) withoutPolicy(r dnsauth.Result, reason string) Result {
	if _, err := c.alignAll("r", "r"); err != nil && !c.res.SPFAligned && !c.res.DKIMAligned {
		return c.finish(dnsauth.TempError, reason+"; temporary DNS failure while checking alignment: "+err.Error())
	}
	return c.finish(r, reason)
}

func (c *dmarcCheck) finish(r dnsauth.Result, reason string) Result {
	c.res.Result, c.res.Reason = r, reason
	return c.res
}

// bisUnusable drops DMARCbis alignment after a failed walk: with no walk
// to go by, alignment falls back to the PSL.
func (c *dmarcCheck) bisUnusable() {
	c.disc.bisRules = false
	c.disc.org = OrgDomain(c.disc.from)
	c.res.OrgDomain = c.disc.org
}

// evaluate decides pass or fail against a usable record.
func (c *dmarcCheck) evaluate(rec *Record) Result {
	tempAligned, err := c.alignAll(rec.ADKIM, rec.ASPF)
	modes := fmt.Sprintf("adkim=%s aspf=%s", rec.ADKIM, rec.ASPF)
	if c.res.DKIMAligned || c.res.SPFAligned {
		c.res.Policy, c.res.PolicyTag, c.res.Sampled = c.publishedPolicy(rec, true), c.policyTagFor(rec, true), true
		return c.finish(dnsauth.Pass, c.passReason(modes))
	}
	if err != nil {
		return c.finish(dnsauth.TempError, "temporary DNS failure while checking alignment: "+err.Error())
	}
	if tempAligned != "" {
		// DMARCbis "Determine Handling Policy": with no aligned pass and an aligned temperror,
		// no permanent failure can be concluded.
		return c.finish(dnsauth.TempError, "no aligned pass, and "+tempAligned+" had a temporary error")
	}
	return c.fail(rec, modes)
}

// fail picks the policy for a failing message: the tag (p, sp or np), then
// pct= sampling and t=.
func (c *dmarcCheck) fail(rec *Record, modes string) Result {
	exists := true
	if c.res.RecordDomain != c.res.FromDomain && rec.NonexistentPolicy != "" {
		var err error
		if exists, err = dmarcDomainExists(c.ctx, c.dns, c.res.FromDomain); err != nil {
			return c.finish(dnsauth.TempError, "temporary DNS failure checking whether the author domain exists: "+err.Error())
		}
	}
	tag := c.policyTagFor(rec, exists)
	published := c.publishedPolicy(rec, exists)
	applied, sampled, why := c.sample(rec, published)
	c.res.Policy, c.res.PolicyTag, c.res.Sampled = applied, tag, sampled
	reason := fmt.Sprintf("no aligned SPF or DKIM pass (%s); %s=%s from _dmarc.%s, %s", modes, tag, published, c.res.RecordDomain, c.disc.how)
	if why != "" {
		reason += "; " + why
	}
	if rec.Repaired != "" {
		reason += "; " + rec.Repaired
	}
	return c.finish(dnsauth.Fail, reason)
}

// policyTagFor names the tag that applies (DMARCbis §4.10.1, RFC 7489
// §6.3): p at the author domain itself; for a subdomain, np when it does
// not exist and np is set, else sp when set, else p.
func (c *dmarcCheck) policyTagFor(rec *Record, exists bool) string {
	switch {
	case c.res.RecordDomain == c.res.FromDomain:
		return "p"
	case !exists && rec.NonexistentPolicy != "":
		return "np"
	case rec.SubdomainPolicy != "":
		return "sp"
	}
	return "p"
}

func (c *dmarcCheck) publishedPolicy(rec *Record, exists bool) string {
	switch c.policyTagFor(rec, exists) {
	case "np":
		return rec.NonexistentPolicy
	case "sp":
		return rec.SubdomainPolicy
	}
	return rec.Policy
}

// sample applies pct= (RFC 7489 §6.6.4; not in DMARCbis mode) and t=y
// (DMARCbis): a message left out gets the next less strict policy.
func (c *dmarcCheck) sample(rec *Record, policy string) (applied string, sampled bool, why string) {
	switch {
	case rec.Testing:
		why = "t=y (testing)"
	case c.opts.DMARCbis || rec.Percent >= 100:
		return policy, true, ""
	case rec.Percent > 0 && c.random() < rec.Percent:
		return policy, true, fmt.Sprintf("sampled by pct=%d", rec.Percent)
	default:
		why = fmt.Sprintf("not sampled by pct=%d", rec.Percent)
	}
	applied = dmarcDowngrade(policy)
	if applied != policy {
		why += fmt.Sprintf(", so %s becomes %s", policy, applied)
	}
	return applied, false, why
}

func (c *dmarcCheck) random() int {
	if c.opts.Rand != nil {
		return c.opts.Rand()
	}
	return rand.IntN(100)
}

// dmarcDowngrade is the next less strict policy (RFC 7489 §6.6.4).
func dmarcDowngrade(p string) string {
	switch p {
	case "reject":
		return "quarantine"
	case "quarantine":
		return "none"
	}
	return p
}

func (c *dmarcCheck) passReason(modes string) string {
	var by []string
	if c.res.SPFAligned {
		by = append(by, "SPF "+header.NormalizeDomain(c.in.SPF.Domain))
	}
	if c.res.DKIMAligned {
		by = append(by, "DKIM d="+c.res.AlignedDKIM)
	}
	return fmt.Sprintf("%s aligned (%s), record at _dmarc.%s", strings.Join(by, " and "), modes, c.res.RecordDomain)
}

// alignAll sets SPFAligned, DKIMAligned and AlignedDKIM, and names an
// identifier that would have aligned but had a temporary error. A DNS
// failure while checking one identifier does not stop the others: one
// aligned pass settles DMARC whatever else failed.
func (c *dmarcCheck) alignAll(adkim, aspf string) (tempAligned string, err error) {
	if spf := c.in.SPF; spf != nil && spf.Domain != "" && (spf.Result == dnsauth.Pass || spf.Result == dnsauth.TempError) {
		ok, aerr := c.aligned(spf.Domain, aspf == "s")
		err = cmp.Or(err, aerr)
		c.res.SPFAligned = ok && spf.Result == dnsauth.Pass
		if ok && spf.Result == dnsauth.TempError {
			tempAligned = "SPF " + header.NormalizeDomain(spf.Domain)
		}
	}
	for _, k := range c.in.DKIM {
		if k.Result != dnsauth.Pass && k.Result != dnsauth.TempError || c.res.DKIMAligned {
			continue
		}
		ok, aerr := c.aligned(k.Domain, adkim == "s")
		err = cmp.Or(err, aerr)
		if ok && k.Result == dnsauth.Pass {
			c.res.DKIMAligned, c.res.AlignedDKIM = true, header.NormalizeDomain(k.Domain)
		} else if ok && tempAligned == "" {
			tempAligned = "DKIM d=" + header.NormalizeDomain(k.Domain)
		}
	}
	return tempAligned, err
}

// aligned compares an authenticated domain with the author domain:
// strict is equality, relaxed is equal organizational domains, from the
// PSL (RFC 7489 §3.2) or from tree walks when DMARCbis rules apply.
func (c *dmarcCheck) aligned(id string, strict bool) (bool, error) {
	id, from := header.NormalizeDomain(id), c.res.FromDomain
	switch {
	case id == "" || from == "":
		return false, nil
	case id == from:
		return true, nil
	case strict:
		return false, nil
	case c.disc == nil || !c.disc.bisRules:
		return OrgDomain(id) == OrgDomain(from), nil
	}
	return c.bisAligned(id)
}

// bisAligned compares DMARCbis organizational domains (§4.10.2). An
// organizational domain is always the name itself or one of its parents,
// so only an identifier at or below the author's organizational domain
// can align, and only those are walked.
func (c *dmarcCheck) bisAligned(id string) (bool, error) {
	org := c.disc.org
	if id != org && !strings.HasSuffix(id, "."+org) {
		return false, nil
	}
	if !dmarcQueryable("_dmarc." + id) {
		return false, nil
	}
	w, ok := c.walks[id]
	if !ok {
		w = dmarcTreeWalk(c.ctx, c.dns, id)
		c.walks[id] = w
	}
	if w.tempErr != nil {
		return false, w.tempErr
	}
	return w.bisOrg() == org, nil
}

// dmarcDomainExists tells whether name exists for np= (DMARCbis §3.2.13,
// RFC 8020): it does not when both the address and the MX lookups answer
// NXDOMAIN. NODATA means the name exists.
func dmarcDomainExists(ctx context.Context, dns dnsauth.DNS, name string) (bool, error) {
	_, err := dns.LookupIPAddr(ctx, name)
	if err == nil {
		return true, nil
	}
	if !dnsauth.IsNotFound(err) {
		return false, dmarcTemporary(name, err)
	}
	_, err = dns.LookupMX(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case dnsauth.IsNotFound(err):
		return false, nil
	}
	return false, dmarcTemporary(name, err)
}
