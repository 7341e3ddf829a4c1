package policy

import (
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// A DNS failure decides a verdict only where the failed lookup could have
// changed it. For each rule, one case where it could (the temperror
// action, never a reject) and one where it could not (the verdict the
// evidence decides, whatever on_temperror says).
func TestEngineTemperrorOnlyWhereItMatters(t *testing.T) {
	w := newEngineWorld(t)
	w.dns.MustAdd(t, `
servfail.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
broken.example. IN TXT "v=spf1 -all"
nonepol.example. IN TXT "v=spf1 include:broken.example ip4:192.0.2.66 -all"
_dmarc.nonepol.example. IN TXT "v=DMARC1; p=none"
quarpol.example. IN TXT "v=spf1 include:broken.example ip4:192.0.2.66 -all"
_dmarc.quarpol.example. IN TXT "v=DMARC1; p=quarantine"
flaky.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
_dmarc.flaky.example. IN TXT "v=DMARC1; p=reject"
`)
	for _, name := range []string{"servfail.example", "broken.example", "_dmarc.flaky.example", "_spf.cloud.example", "sel._domainkey.example.org", "edge.example"} {
		w.dns.SetFault(name, dnstest.ServFail)
	}
	edge := []string{"user@edge.example"}
	accept := `on_temperror = "accept"`
	mixed := "[[relay]]\nname = \"mixed\"\nnetworks = [\"198.51.106.0/24\"]\nspf = [\"_spf.cloud.example\"]\n" +
		"[[domain]]\nname = \"mixed.example\"\nvia = \"mixed\"\n[[domain]]\nname = \"lenient.example\"\nvia = \"cloud\"\ndirect_delivery = \"accept\"\n"
	ownSigned := w.message(t, "Alice <alice@example.org>", "example.org", "lists.example.net 192.0.2.40")
	runEngineCases(t, w, []engineCase{
		// header-forgery: an unaligned envelope domain's SPF cannot make
		// an own-domain From aligned, so its SERVFAIL changes nothing.
		{name: "header-forgery: unaligned SPF SERVFAIL", ip: "192.0.2.66", mailFrom: "x@servfail.example", rcpts: edge,
			msg: w.message(t, "CEO <ceo@edge.example>", "", ""), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "header-forgery: unaligned SPF SERVFAIL, on_temperror = accept", dns: accept, ip: "192.0.2.66", mailFrom: "x@servfail.example", rcpts: edge,
			msg: w.message(t, "CEO <ceo@edge.example>", "", ""), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "header-forgery: aligned DKIM key SERVFAIL", ip: "198.51.100.5", mailFrom: "list-bounces@lists.example.net",
			msg: ownSigned, action: config.ActionTempFail, rule: RuleHeaderForgery, stage: StageBody},
		{name: "header-forgery: aligned DKIM key SERVFAIL, action accept", extra: `header_forgery = "accept"`, ip: "198.51.100.5",
			mailFrom: "list-bounces@lists.example.net", msg: ownSigned, action: config.ActionAccept, stage: StageBody},
		// envelope-forgery: the protected domain's own SPF could pass.
		{name: "envelope-forgery: own SPF SERVFAIL", ip: "192.0.2.66", mailFrom: "boss@edge.example", rcpts: edge,
			msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionTempFail, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "envelope-forgery: own SPF SERVFAIL, action accept", extra: "[[domain]]\nname = \"lax.edge.example\"\nenvelope_forgery = \"accept\"",
			ip: "192.0.2.66", mailFrom: "boss@lax.edge.example", rcpts: edge, msg: w.message(t, "x@spammer.example", "", ""),
			action: config.ActionAccept, stage: StageBody},
		{name: "envelope-forgery: SERVFAIL of a sender that is not protected", ip: "192.0.2.66", mailFrom: "x@servfail.example", rcpts: edge,
			msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionAccept, stage: StageBody},
		// spf: a temperror could have been the fail on_fail acts on.
		{name: "spf: SERVFAIL with on_fail = reject", extra: "[spf]\non_fail = \"reject\"", ip: "192.0.2.66", mailFrom: "x@servfail.example",
			rcpts: edge, msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionTempFail, rule: RuleSPF, stage: StageMailFrom},
		// direct-delivery: the relay's SPF-published networks are unknown.
		{name: "direct-delivery: relay set unknown", extra: mixed, ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@mixed.example"}, msg: w.message(t, "x@spammer.example", "", ""),
			action: config.ActionTempFail, rule: RuleDirectDelivery, stage: StageRcpt},
		{name: "direct-delivery: client in the relay's written networks", extra: mixed, ip: "198.51.106.5", mailFrom: "x@spammer.example",
			rcpts: []string{"user@mixed.example"}, msg: w.message(t, "x@spammer.example", "", "mail.spammer.example 192.0.2.66"),
			action: config.ActionAccept, stage: StageBody},
		{name: "direct-delivery: relay set unknown, action accept", extra: mixed, ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@lenient.example"}, msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionAccept, stage: StageBody},
		// dmarc: the policy lookup failed, or an aligned identifier did.
		{name: "dmarc: policy SERVFAIL", ip: "192.0.2.30", mailFrom: "x@partner.example", rcpts: edge,
			msg: w.message(t, "x@flaky.example", "", ""), action: config.ActionTempFail, rule: RuleDMARC, stage: StageBody},
		{name: "dmarc: policy SERVFAIL beside an aligned SPF pass", ip: "192.0.2.66", mailFrom: "x@flaky.example", rcpts: edge,
			msg: w.message(t, "x@flaky.example", "", ""), action: config.ActionAccept, stage: StageBody},
		{name: "dmarc: aligned SPF SERVFAIL under p=quarantine", ip: "192.0.2.99", mailFrom: "x@quarpol.example", rcpts: edge,
			msg: w.message(t, "x@quarpol.example", "", ""), action: config.ActionTempFail, rule: RuleDMARC, stage: StageBody},
		{name: "dmarc: aligned SPF SERVFAIL under p=none", ip: "192.0.2.99", mailFrom: "x@nonepol.example", rcpts: edge,
			msg: w.message(t, "x@nonepol.example", "", ""), action: config.ActionAccept, stage: StageBody},
	})
}
