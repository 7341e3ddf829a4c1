package policy

import (
	"fmt"
	"slices"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/policy/impersonation"
)

// Rules against mail that only looks like it comes from a protected
// domain (spec: display-name, lookalike). Authentication cannot catch it —
// the attacker owns the domain it really comes from — so these rules judge
// what a reader sees: the From display name and comments, the display
// names of Reply-To and Sender, and the From and envelope domains.
const (
	RuleDisplayName = "display-name"
	RuleLookalike   = "lookalike"
)

// newImpersonationIndex keys the protected domains, their people and
// their allowed lookalikes once per configuration, so that a message
// costs a few look-ups however many domains are protected.
func newImpersonationIndex(cfg *config.Config) *impersonation.Index {
	ps := make([]impersonation.Protected, len(cfg.Domains))
	for i, d := range cfg.Domains {
		ps[i] = impersonation.Protected{Domain: d.Name, People: d.People, Allow: d.LookalikeAllow}
	}
	return impersonation.New(ps)
}

// checkImpersonation runs display-name and lookalike at the end of the
// headers. Own senders (trusted, authenticated, outbound) may write what
// they like; mail already refused needs no more work.
func (m *Message) checkImpersonation() {
	if m.decided() || m.e.imp == nil {
		return
	}
	if _, _, class := m.evaluated(); class.mayUseOwnDomains() {
		m.outcome(RuleDisplayName, StageHeaders, "not applicable", "client is "+string(class), nil)
		m.outcome(RuleLookalike, StageHeaders, "not applicable", "client is "+string(class), nil)
		return
	}
	m.displayName()
	m.lookalike()
}

// displayName looks at the texts shown beside addresses outside the
// protected domains: in From, a protected address or domain or a
// protected person's name; in Sender and Reply-To (shown by some clients,
// used for the reply), a protected address or domain. An entry whose own
// address is protected is left to header-forgery.
func (m *Message) displayName() {
	for _, field := range []string{"From", "Sender", "Reply-To"} {
		for _, v := range m.headerValues(field) {
			for _, b := range impersonation.ParseMailboxes(v) {
				if m.e.protected(DomainOf(b.Address)) != nil {
					continue
				}
				for _, text := range b.Texts() {
					if match, ok := m.e.imp.Display(text, field == "From"); ok {
						m.displayNameFired(field, b, match)
						return
					}
				}
			}
		}
	}
	m.outcome(RuleDisplayName, StageHeaders, "pass", "no display name or comment names a protected address or person", nil)
}

func (m *Message) displayNameFired(field string, b impersonation.Mailbox, match impersonation.Match) {
	d := m.e.protected(match.Protected)
	what := "a protected address"
	if match.Kind == impersonation.KindPerson {
		what = "a protected person"
	}
	text := "message impersonates " + d.Name + ": the sender's name shows " + what
	reason := fmt.Sprintf("%s display text %s, but the address <%s> is not in a protected domain and the client is %s",
		field, match.Explanation, b.Address, m.clientWords())
	m.fire(RuleDisplayName, StageHeaders, d.DisplayName, d, d.Name, text, reason)
}

// lookalike judges the From domains, then the envelope sender's domain,
// each once; a protected domain is never its own lookalike. When a From
// domain is protected, header-forgery judges what the reader sees, and a
// lookalike envelope (a mailing list re-sending own mail, say) adds
// nothing to that.
func (m *Message) lookalike() {
	domains := append(make([]string, 0, 2), m.From.Domains...)
	if !m.fromProtected() {
		domains = append(domains, DomainOf(m.MailFrom))
	}
	for i, dom := range domains {
		if dom == "" || m.e.protected(dom) != nil || slices.Contains(domains[:i], dom) {
			continue
		}
		if match, ok := m.e.imp.Lookalike(dom); ok {
			m.lookalikeFired(dom, i < len(m.From.Domains), match)
			return
		}
	}
	m.outcome(RuleLookalike, StageHeaders, "pass", "neither the From nor the envelope domain looks like a protected domain", nil)
}

func (m *Message) fromProtected() bool {
	for _, dom := range m.From.Domains {
		if m.e.protected(dom) != nil {
			return true
		}
	}
	return false
}

func (m *Message) lookalikeFired(dom string, inFrom bool, match impersonation.Match) {
	d := m.e.protected(match.Protected)
	where := "envelope sender <" + m.MailFrom + ">"
	if inFrom {
		where = "From " + fromWords(m.From)
	}
	text := "sender domain " + dom + " imitates " + d.Name
	reason := fmt.Sprintf("%s: %s (%s); the client is %s", where, match.Explanation, match.Kind, m.clientWords())
	m.fire(RuleLookalike, StageHeaders, d.Lookalike, d, d.Name, text, reason)
}
