package policy

import (
	"fmt"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	"github.com/spoofguard/spoofguard/header"
)

// Authorised senders are the narrow answer to a third party that sends as
// a protected domain without aligned SPF or DKIM (a newsletter service
// signing with its own domain, a CRM with its own bounce domain, a
// printer on a partner's network). Each entry names exactly one proof,
// and it counts only when that proof passes for the message at hand:
//
//   - dkim: a DKIM signature whose d= is exactly that domain verified;
//     a subdomain's signature does not count (a service that signs with
//     per-customer subdomains needs one entry for the one it uses).
//   - spf: SPF passed for a MAIL FROM whose domain is exactly that one.
//   - networks: the evaluated client (the original client behind a
//     relay or an outbound server) is inside one of the networks.
//
// An entry satisfies the own-domain rules (envelope-forgery,
// header-forgery, and DMARC's verdict) for its own [[domain]] only. The
// direct-delivery, impersonation and every other domain's rules are
// untouched: a SaaS address range that is authorised for one domain is
// still an Internet client for everything else, unlike networks.outbound.
//
// The envelope rule is decided at MAIL FROM, before any signature is
// known. For a domain with a dkim entry, an envelope that fails SPF is
// therefore judged again at the end of the headers (at once, unless a
// signature with an entry's d= is present) or at the end of the body with
// the DKIM results: the price of a dkim entry is that such forgeries are
// refused after DATA rather than at MAIL FROM.

// SenderMatch is an authorised sender whose proof passed and which let a
// message through an own-domain rule it would have failed.
type SenderMatch struct {
	Domain string `json:"domain"` // the protected domain ([[domain]] name) it is listed under
	Name   string `json:"name"`   // the entry's name
	Proof  string `json:"proof"`  // what passed, in words: "DKIM pass for d=mcsv.net"
}

// pendingCheck is an own-domain rule that failed before the DKIM results
// were known, for a domain a dkim entry could still rescue.
type pendingCheck struct {
	rule, subject string
	d             *config.DomainConfig
	decide        func(Stage) // applies the rule's verdict at a stage
}

// AuthorizedSender returns the name of the authorised sender entry that
// let the message pass an own-domain rule, or "" when none did. With
// several (two protected From domains, each rescued by its own entry) it
// is the first; AuthorizedSenders has them all.
func (m *Message) AuthorizedSender() string {
	if len(m.authorized) == 0 {
		return ""
	}
	return m.authorized[0].Name
}

// AuthorizedSenders returns every authorised sender entry that let the
// message pass an own-domain rule, in the order they did.
func (m *Message) AuthorizedSenders() []SenderMatch { return m.authorized }

// senderProof returns, in words, how entry s is proven for this message,
// or "" when it is not.
func (m *Message) senderProof(s *config.Sender) string {
	switch {
	case s.DKIM != "":
		for _, r := range m.DKIM {
			if r.Result == dnsauth.Pass && header.NormalizeDomain(r.Domain) == s.DKIM {
				return "DKIM pass for d=" + s.DKIM
			}
		}
	case s.SPF != "":
		if m.spfPassFor(s.SPF) {
			return "SPF pass for MAIL FROM domain " + s.SPF
		}
	default:
		ip, _, _ := m.evaluated()
		for _, n := range s.Networks {
			if ip.IsValid() && n.Contains(ip.Unmap()) {
				return "client " + ip.String() + " is in " + n.String()
			}
		}
	}
	return ""
}

// spfPassFor reports whether SPF passed for a MAIL FROM in exactly domain
// (not the HELO identity a null sender is checked by).
func (m *Message) spfPassFor(domain string) bool {
	return m.MailFrom != "" && m.SPF != nil && m.SPF.Result == dnsauth.Pass &&
		header.NormalizeDomain(DomainOf(m.MailFrom)) == domain
}

// senderRescues records a passing outcome for rule when one of d's
// authorised senders is proven for this message, and reports whether one
// was.
func (m *Message) senderRescues(rule string, stage Stage, d *config.DomainConfig, subject string) bool {
	ss := m.e.sendersOf(d)
	for i := range ss {
		s := &ss[i]
		proof := m.senderProof(s)
		if proof == "" {
			continue
		}
		m.noteAuthorized(SenderMatch{Domain: d.Name, Name: s.Name, Proof: proof})
		m.outcome(rule, stage, "pass", fmt.Sprintf("%s: authorised sender %q of %s (%s)", subject, s.Name, d.Name, proof), nil)
		return true
	}
	return false
}

func (m *Message) noteAuthorized(sm SenderMatch) {
	for _, have := range m.authorized {
		if have == sm {
			return
		}
	}
	m.authorized = append(m.authorized, sm)
}

// senderAllowed says why a failed DMARC evaluation of protected domain d
// is not held against the message: an authorised sender of d was proven
// (header-forgery recorded it). The domain's owner listed that third
// party, which is the local policy exception RFC 7489 §6.7 allows. ""
// when none was.
func (m *Message) senderAllowed(d *config.DomainConfig) string {
	for _, sm := range m.authorized {
		if d != nil && sm.Domain == d.Name {
			return fmt.Sprintf("authorised sender %q of %s (%s)", sm.Name, sm.Domain, sm.Proof)
		}
	}
	return ""
}

// rescueOrWait settles the envelope-forgery rule where it failed on its
// own evidence: an authorised sender proven now passes it; a dkim entry
// that may still be proven later puts the decision off (pendingCheck);
// one whose key lookup failed makes it a temperror; otherwise it reports
// false and the caller applies the rule's verdict.
func (m *Message) rescueOrWait(rule string, stage Stage, d *config.DomainConfig, subject string, decide func(Stage)) bool {
	if m.senderRescues(rule, stage, d, subject) {
		return true
	}
	if m.mayBeSignedFor(d, stage) {
		m.pending = append(m.pending, pendingCheck{rule: rule, subject: subject, d: d, decide: decide})
		return true
	}
	if m.dkimSenderTempfailed(d) {
		// Had the key been fetched, the entry might have rescued the
		// message: a DNS failure must not become a reject.
		m.temperror(rule, stage, d.EnvelopeForgery, d, d.Name,
			subject+": an authorised sender's DKIM signature could not be checked (DNS temporary failure)")
		return true
	}
	return false
}

// mayBeSignedFor reports whether a dkim entry of d could still be proven
// after stage: at MAIL FROM any dkim entry could; at the end of the
// headers only one whose d= a DKIM-Signature names; at the end of the
// body the results are in.
func (m *Message) mayBeSignedFor(d *config.DomainConfig, stage Stage) bool {
	if stage == StageBody || !m.hasDKIMSender(d) {
		return false
	}
	if stage == StageMailFrom {
		return true
	}
	for _, v := range m.headerValues("DKIM-Signature") {
		if sig, err := dkim.ParseSignature(v); err == nil && m.dkimSenderOf(d, sig.Domain) != nil {
			return true
		}
	}
	return false
}

func (m *Message) hasDKIMSender(d *config.DomainConfig) bool {
	for _, s := range m.e.sendersOf(d) {
		if s.DKIM != "" {
			return true
		}
	}
	return false
}

// dkimSenderOf returns d's dkim entry for the signing domain sdid, or nil.
func (m *Message) dkimSenderOf(d *config.DomainConfig, sdid string) *config.Sender {
	ss := m.e.sendersOf(d)
	for i := range ss {
		if ss[i].DKIM != "" && ss[i].DKIM == header.NormalizeDomain(sdid) {
			return &ss[i]
		}
	}
	return nil
}

// dkimSenderTempfailed reports whether a signature of one of d's dkim
// entries could not be verified for a DNS failure: had it verified, the
// entry would have rescued the message.
func (m *Message) dkimSenderTempfailed(d *config.DomainConfig) bool {
	for _, r := range m.DKIM {
		if r.Result == dnsauth.TempError && m.dkimSenderOf(d, r.Domain) != nil {
			return true
		}
	}
	return false
}

// settlePending decides the own-domain rules that waited for DKIM, now
// that stage has brought more evidence; a rule may wait again at the end
// of the headers when a signature of an entry's domain is present.
func (m *Message) settlePending(stage Stage) {
	waiting := m.pending
	m.pending = nil
	for _, p := range waiting {
		if !m.rescueOrWait(p.rule, stage, p.d, p.subject, p.decide) {
			p.decide(stage)
		}
	}
}

// sendersOf returns the authorised senders of protected domain d.
func (e *Engine) sendersOf(d *config.DomainConfig) []config.Sender {
	if d == nil {
		return nil
	}
	return d.Senders
}
