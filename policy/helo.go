package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
)

// checkHelo questions a client that greets with a name in a protected
// domain while giving an ordinary envelope sender (for the null sender the
// HELO is the MAIL FROM identity and checkEnvelope judges it). Only the
// domain's own servers may use its names: SPF for the HELO identity (RFC
// 7208 §2.3) must pass, or the greeting is a forgery like an own envelope
// sender would be. The lookup is made only for protected names, so other
// mail costs nothing.
func (m *Message) checkHelo(ctx context.Context, stage Stage, ip netip.Addr, helo string) {
	name := strings.ToLower(strings.TrimSuffix(helo, "."))
	d := m.e.protected(name)
	if m.MailFrom == "" || d == nil {
		return
	}
	r := spf.CheckHelo(ctx, m.e.dns, ip, helo)
	m.HELO = &r
	if r.Result == dnsauth.Pass {
		m.outcome(RuleEnvelopeForgery, stage, "pass", "SPF pass for HELO "+name, nil)
		return
	}
	decide := func(stage Stage) { m.heloVerdict(stage, d, name) }
	if !m.rescueOrWait(RuleEnvelopeForgery, stage, d, "HELO "+name, decide) {
		decide(stage)
	}
}

// heloVerdict applies envelope-forgery to a HELO name in a protected
// domain that SPF did not pass and no authorised sender rescued.
func (m *Message) heloVerdict(stage Stage, d *config.DomainConfig, name string) {
	r := m.HELO
	switch r.Result {
	case dnsauth.TempError:
		m.temperror(RuleEnvelopeForgery, stage, d.EnvelopeForgery, d, d.Name, "SPF temperror for HELO "+name+" in protected domain "+d.Name+": "+r.Reason)
	default:
		text := "HELO " + name + " uses protected domain " + d.Name + " from an unauthorised host"
		reason := fmt.Sprintf("HELO %s is in protected domain %s, the client is %s, and SPF for the HELO identity is %s (%s); "+
			"an own server that greets so belongs in networks.outbound, or its name needs an SPF record that passes it",
			name, d.Name, m.clientWords(), r.Result, r.Reason)
		m.fire(RuleEnvelopeForgery, stage, d.EnvelopeForgery, d, d.Name, text, reason)
	}
}
