package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	dmarcauth "github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
	"github.com/spoofguard/spoofguard/header"
)

// directDelivery is the rule for mail that bypassed the inbound filter: a
// recipient domain that takes mail only via a relay, reached by a client
// that is not that relay. Another domain's relay is a bypass too. ok is
// false when the rule does not apply to the recipient.
func (m *Message) directDelivery(rcpt string) Verdict {
	domain := DomainOf(rcpt)
	d := m.e.protected(domain)
	if d == nil || d.Via == "" {
		return Accept
	}
	stage := StageRcpt
	switch {
	case m.Class.mayUseOwnDomains():
		m.outcome(RuleDirectDelivery, stage, "pass", rcpt+": client is "+string(m.Class), nil)
		return Accept
	case m.Class == ClassRelay && m.Relay == d.Via:
		m.outcome(RuleDirectDelivery, stage, "pass", rcpt+": came through relay "+quote(d.Via), nil)
		return Accept
	}
	if rs := m.e.byName[d.Via]; rs != nil {
		if _, certain := rs.contains(m.Client.IP); !certain {
			m.temperror(RuleDirectDelivery, stage, d.DirectDelivery, d, d.Name,
				"relay "+quote(d.Via)+" networks from SPF are not loaded yet ("+rs.Status()+"), so "+addrWords(m.Client.IP)+" cannot be judged")
			return m.lastVerdict()
		}
	}
	how := "directly from " + addrWords(m.Client.IP)
	if m.Class == ClassRelay {
		how = "through relay " + quote(m.Relay) + ", which is not " + d.Name + "'s relay " + quote(d.Via)
	}
	text := d.Name + " accepts mail only through its MX; direct delivery refused"
	reason := fmt.Sprintf("recipient %s: %s takes inbound mail only via relay %q, but this message arrived %s", rcpt, d.Name, d.Via, how)
	m.fire(RuleDirectDelivery, stage, d.DirectDelivery, d, d.Name, text, reason)
	return m.lastVerdict()
}

// lastVerdict is the verdict of the outcome just recorded, or Accept.
func (m *Message) lastVerdict() Verdict {
	if n := len(m.Outcomes); n > 0 && m.Outcomes[n-1].Verdict != nil {
		return *m.Outcomes[n-1].Verdict
	}
	return Accept
}

// checkEnvelope evaluates SPF for the envelope sender on the evaluated
// client, then the envelope-forgery and spf rules.
func (m *Message) checkEnvelope(ctx context.Context, stage Stage) {
	m.envelopeDone = true
	ip, helo, class := m.evaluated()
	identity := DomainOf(m.MailFrom)
	if m.MailFrom == "" {
		identity = strings.ToLower(strings.TrimSuffix(helo, "."))
	}
	d := m.e.protected(identity)
	if class.mayUseOwnDomains() {
		m.outcome(RuleEnvelopeForgery, stage, "not applicable", "client is "+string(class), nil)
		return
	}
	if ip.IsValid() {
		r := spf.Check(ctx, m.e.dns, ip, helo, m.MailFrom)
		m.SPF = &r
	} else {
		why := "the MTA reported no client address"
		if m.Origin != nil {
			why = "original client unknown: " + m.Origin.Err
		}
		m.SPF = &spf.Result{Result: dnsauth.None, Identity: "mailfrom", Domain: identity, Reason: why}
	}
	m.envelopeForgery(stage, d, identity)
	m.checkHelo(ctx, stage, ip, helo)
	m.spfRule(stage, d)
}

func (m *Message) envelopeForgery(stage Stage, d *config.DomainConfig, identity string) {
	if d == nil {
		m.outcome(RuleEnvelopeForgery, stage, "not applicable", "envelope domain "+orNull(identity)+" is not protected", nil)
		return
	}
	if m.SPF.Result == dnsauth.Pass {
		m.outcome(RuleEnvelopeForgery, stage, "pass", "SPF pass for "+identity, nil)
		return
	}
	decide := func(stage Stage) { m.envelopeVerdict(stage, d, identity) }
	if !m.rescueOrWait(RuleEnvelopeForgery, stage, d, "envelope domain "+orNull(identity), decide) {
		decide(stage)
	}
}

// envelopeVerdict applies envelope-forgery to a protected envelope domain
// that SPF did not pass and no authorised sender rescued.
func (m *Message) envelopeVerdict(stage Stage, d *config.DomainConfig, identity string) {
	switch m.SPF.Result {
	case dnsauth.TempError:
		m.temperror(RuleEnvelopeForgery, stage, d.EnvelopeForgery, d, d.Name, "SPF temperror for protected domain "+identity+": "+m.SPF.Reason)
	default:
		what := "sender <" + m.MailFrom + ">"
		if m.MailFrom == "" {
			what = "HELO " + identity + " (null sender)"
		}
		text := what + " uses protected domain " + d.Name + " from an unauthorised host"
		reason := fmt.Sprintf("%s is in protected domain %s, the client is %s, and SPF is %s: %s",
			what, d.Name, m.clientWords(), m.SPF.Result, m.SPF.Reason)
		m.fire(RuleEnvelopeForgery, stage, d.EnvelopeForgery, d, d.Name, text, reason)
	}
}

// spfRule acts on an SPF fail of a domain that is not protected; DMARC
// usually decides such mail, so its default action is accept. A
// temperror could have been a fail, so it matters only when a fail would.
func (m *Message) spfRule(stage Stage, d *config.DomainConfig) {
	switch {
	case d != nil:
		m.outcome(RuleSPF, stage, "not applicable", "protected domain: envelope-forgery decides", nil)
	case m.SPF.Result != dnsauth.Fail && m.SPF.Result != dnsauth.TempError:
		m.outcome(RuleSPF, stage, "pass", "SPF "+string(m.SPF.Result), nil)
	case m.allowed(false) != "":
		m.outcome(RuleSPF, stage, "allowed", m.allowed(false), nil)
	case m.SPF.Result == dnsauth.TempError:
		m.temperror(RuleSPF, stage, m.e.cfg.SPF.OnFail, nil, m.SPF.Domain, "SPF temperror for "+m.SPF.Domain+": "+m.SPF.Reason)
	default:
		m.fire(RuleSPF, stage, m.e.cfg.SPF.OnFail, nil, m.SPF.Domain,
			"SPF check failed for "+m.SPF.Domain, "SPF fail: "+m.SPF.Reason)
	}
}

// checkHeaderForgery is the rule against forged own-domain From headers,
// whatever the domain's published DMARC policy says. At the end of the
// headers it fires only when no DKIM signature could rescue the message;
// otherwise it waits for the DKIM results.
func (m *Message) checkHeaderForgery(stage Stage) {
	if m.headerDecided {
		return
	}
	_, _, class := m.evaluated()
	var guarded []string
	for _, dom := range m.From.Domains {
		if m.e.protected(dom) != nil {
			guarded = append(guarded, dom)
		}
	}
	switch {
	case len(guarded) == 0:
		if stage == StageBody {
			m.outcome(RuleHeaderForgery, stage, "not applicable", "From "+fromWords(m.From)+" is not a protected domain", nil)
		}
		return
	case class.mayUseOwnDomains():
		m.headerDecided = true
		m.outcome(RuleHeaderForgery, stage, "not applicable", "client is "+string(class), nil)
		return
	}
	if stage == StageHeaders && m.mightBeRescued(guarded) {
		return
	}
	m.headerDecided = true
	for _, dom := range guarded {
		m.judgeFromDomain(stage, dom)
	}
}

// mightBeRescued reports whether some From domain that SPF does not align
// has a DKIM-Signature whose d= could align with it, or an ARC chain is
// being validated.
func (m *Message) mightBeRescued(domains []string) bool {
	if m.arc != nil {
		return true // a trusted seal may vouch for any domain
	}
	for _, dom := range domains {
		if m.spfAligned(dom) {
			continue
		}
		rescue := false
		for _, v := range m.headerValues("DKIM-Signature") {
			if sig, err := dkim.ParseSignature(v); err == nil && aligned(sig.Domain, dom) {
				rescue = true
			}
		}
		if !rescue && !m.mayBeSignedFor(m.e.protected(dom), StageHeaders) {
			return false
		}
	}
	return true
}

func (m *Message) spfAligned(dom string) bool {
	return m.SPF != nil && m.SPF.Result == dnsauth.Pass && aligned(m.SPF.Domain, dom)
}

// judgeFromDomain decides header forgery for one protected From domain.
func (m *Message) judgeFromDomain(stage Stage, dom string) {
	d := m.e.protected(dom)
	if m.spfAligned(dom) {
		m.outcome(RuleHeaderForgery, stage, "pass", dom+": SPF pass aligned ("+m.SPF.Domain+")", nil)
		return
	}
	// Only an identifier that aligns with the From domain could rescue
	// the message, so only its failed lookup leaves the verdict open
	// (RFC 7489 §3.1: an unaligned pass would not count either).
	tempfailed := m.SPF != nil && m.SPF.Result == dnsauth.TempError && aligned(m.SPF.Domain, dom)
	for _, s := range m.DKIM {
		if !aligned(s.Domain, dom) {
			continue
		}
		switch s.Result {
		case dnsauth.Pass:
			m.outcome(RuleHeaderForgery, stage, "pass", dom+": DKIM pass aligned (d="+s.Domain+")", nil)
			return
		case dnsauth.TempError:
			tempfailed = true
		}
	}
	if t := m.trustedAligned(dom, false, false); t != nil {
		m.outcome(RuleHeaderForgery, stage, "pass", dom+": aligned "+t.String(), nil)
		return
	}
	if m.senderRescues(RuleHeaderForgery, stage, d, "From "+dom) {
		return
	}
	if tempfailed || m.unconfirmedAligned(dom) || m.dkimSenderTempfailed(d) {
		m.temperror(RuleHeaderForgery, stage, d.HeaderForgery, d, d.Name, "From "+dom+": an aligned identifier could not be checked (DNS temporary failure)")
		return
	}
	text := "message claims to be from protected domain " + d.Name + " but is not authenticated"
	reason := fmt.Sprintf("From %s is in protected domain %s; the client is %s; %s; no DKIM signature aligned with %s passed%s",
		fromWords(m.From), d.Name, m.clientWords(), m.spfWords(), dom, strings.TrimSuffix(" ("+m.From.Problem+")", " ()"))
	m.fire(RuleHeaderForgery, stage, d.HeaderForgery, d, d.Name, text, reason)
}

// checkDMARC runs DMARC for every author domain (RFC 7489 §6.6.1: with
// several, evaluate each and apply the strictest) and maps a failure to
// the configured local action.
func (m *Message) checkDMARC(ctx context.Context) {
	if !m.e.cfg.DMARC.On() {
		m.outcome(RuleDMARC, StageBody, "not applicable", "dmarc.enabled = false", nil)
		return
	}
	if len(m.From.Domains) == 0 {
		m.outcome(RuleDMARC, StageBody, "not applicable", "no author domain: "+m.From.Problem, nil)
		return
	}
	if _, _, class := m.evaluated(); class.mayUseOwnDomains() {
		m.outcome(RuleDMARC, StageBody, "not applicable", "client is "+string(class), nil)
		return
	}
	for _, dom := range m.From.Domains {
		r := dmarcauth.Check(ctx, m.e.dns, dmarcauth.Input{FromDomain: dom, SPF: m.SPF, DKIM: m.DKIM},
			dmarcauth.Options{Rand: m.e.rand})
		if t := m.dmarcOverride(r); t != nil {
			r.Reason = "local policy override, aligned " + t.String() + "; " + r.Reason
		}
		m.DMARC = append(m.DMARC, r)
		m.dmarcRule(r)
	}
}

func (m *Message) dmarcRule(r dmarcauth.Result) {
	d := m.e.protected(r.FromDomain)
	switch {
	case r.Result != dnsauth.Fail && r.Result != dnsauth.TempError:
		m.outcome(RuleDMARC, StageBody, string(r.Result), r.FromDomain+": "+r.Reason, nil)
	case m.dmarcOverride(r) != nil:
		m.outcome(RuleDMARC, StageBody, "pass", r.FromDomain+": "+r.Reason, nil)
	case m.allowed(true) != "":
		m.outcome(RuleDMARC, StageBody, "allowed", r.FromDomain+": "+m.allowed(true), nil)
	case m.senderAllowed(d) != "":
		m.outcome(RuleDMARC, StageBody, "allowed", r.FromDomain+": "+m.senderAllowed(d), nil)
	case r.Result == dnsauth.Fail && m.dkimSenderTempfailed(d):
		// The authorised sender's signature would have excused the
		// failure had its key been fetched.
		m.temperror(RuleDMARC, StageBody, m.dmarcAction(r.Policy), d, r.FromDomain,
			"DMARC fail for "+r.FromDomain+", but an authorised sender's DKIM signature could not be checked (DNS temporary failure)")
	case r.Result == dnsauth.TempError && (r.SPFAligned || r.DKIMAligned):
		// An aligned pass settles DMARC whatever the policy lookup would
		// have found (RFC 7489 §6.6.2).
		m.outcome(RuleDMARC, StageBody, "pass", r.FromDomain+": aligned pass; "+r.Reason, nil)
	case r.Result == dnsauth.TempError:
		m.temperror(RuleDMARC, StageBody, m.dmarcWorst(r), d, r.FromDomain, "DMARC temperror for "+r.FromDomain+": "+r.Reason)
	case m.unconfirmedAligned(r.FromDomain):
		m.temperror(RuleDMARC, StageBody, m.dmarcAction(r.Policy), d, r.FromDomain,
			"DMARC fail for "+r.FromDomain+", but the relay's ARC seal, which could override it, could not be checked: "+m.ARC.Reason)
	default:
		a := m.dmarcAction(r.Policy)
		text := "DMARC policy of " + r.FromDomain + " rejects this message"
		reason := fmt.Sprintf("DMARC fail for %s (policy %s=%s from %s%s): %s",
			r.FromDomain, r.PolicyTag, r.Policy, r.RecordDomain, sampledWords(r), r.Reason)
		m.fire(RuleDMARC, StageBody, a, d, r.FromDomain, text, reason)
	}
}

// dmarcAction is the local action for a DMARC policy applied to a failing
// message.
func (m *Message) dmarcAction(policy string) config.Action {
	switch policy {
	case "reject":
		return m.e.cfg.DMARC.OnReject
	case "quarantine":
		return m.e.cfg.DMARC.OnQuarantine
	}
	return config.ActionAccept
}

// dmarcWorst is the action a DMARC failure could have led to when the
// evaluation stopped at a temporary error: the strictest policy of the
// record found (p, sp or np, whichever would have applied), or of any
// record when none was found.
func (m *Message) dmarcWorst(r dmarcauth.Result) config.Action {
	policies := []string{"reject"}
	if rec := r.Record; rec != nil {
		policies = []string{rec.Policy, rec.SubdomainPolicy, rec.NonexistentPolicy}
	}
	worst := config.ActionAccept
	for _, p := range policies {
		if a := m.dmarcAction(p); a.Severity() > worst.Severity() {
			worst = a
		}
	}
	return worst
}

// allowed returns why the message is allow-listed for the SPF and DMARC
// rules (by client network, sender domain, or — for DMARC — a passing DKIM
// signature's domain), or "" when it is not. Protected domains are never
// in the allow-lists: the configuration refuses them.
func (m *Message) allowed(dmarc bool) string {
	a := m.e.cfg.Allow
	if ip, _, _ := m.evaluated(); ip.IsValid() && prefixesContain(m.e.allowNet, ip) {
		return "client " + ip.String() + " is in allow.networks"
	}
	senders := []string{DomainOf(m.MailFrom)}
	if dmarc {
		senders = append(senders, m.From.Domains...)
	}
	for _, s := range senders {
		for _, p := range a.SenderDomains {
			if s != "" && domainMatches(s, p) {
				return "sender domain " + s + " is in allow.sender_domains"
			}
		}
	}
	if !dmarc {
		return ""
	}
	for _, sig := range m.DKIM {
		for _, p := range a.DKIMDomains {
			if sig.Result == dnsauth.Pass && domainMatches(sig.Domain, p) {
				return "DKIM signature of " + sig.Domain + " passed and is in allow.dkim_domains"
			}
		}
	}
	return ""
}

func (m *Message) clientWords() string {
	ip, helo, _ := m.evaluated()
	switch {
	case m.Class == ClassRelay && ip.IsValid():
		return fmt.Sprintf("%s (HELO %s) behind relay %q", ip, orNull(helo), m.Relay)
	case m.Class == ClassRelay:
		return "unknown (behind relay " + quote(m.Relay) + ")"
	case m.Origin != nil && ip.IsValid():
		return fmt.Sprintf("%s (HELO %s) behind outbound server %s", ip, orNull(helo), m.Client.IP)
	case m.Origin != nil:
		return "unknown (behind outbound server " + m.Client.IP.String() + ")"
	}
	return fmt.Sprintf("%s (HELO %s, %s)", addrWords(ip), orNull(helo), m.Class)
}

func (m *Message) spfWords() string {
	if m.SPF == nil {
		return "SPF not checked"
	}
	return "SPF " + string(m.SPF.Result) + " for " + orNull(m.SPF.Domain)
}

func fromWords(f header.From) string {
	if len(f.Addresses) == 0 {
		return "(" + orNull(f.Problem) + ")"
	}
	return strings.Join(f.Addresses, ", ")
}

func sampledWords(r dmarcauth.Result) string {
	if r.Sampled {
		return ""
	}
	return ", pct sampling exempted this message"
}

func orNull(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
