package policy

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// Forgeries that get through if alignment is judged loosely: a passing
// signature of another domain beside a broken one of the own domain; a
// look-alike domain that merely ends in the protected name, for SPF and
// for DKIM; and a protected domain whose SPF ends in ~all or ?all, whose
// softfail or neutral is no authorisation.
func TestEngineAlignmentIsExact(t *testing.T) {
	w := newEngineWorld(t)
	w.dns.MustAdd(t, `
evilexample.org. IN TXT "v=spf1 ip4:192.0.2.66 -all"
eviledge.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
soft.example. IN TXT "v=spf1 ip4:192.0.2.77 ~all"
neutral.example. IN TXT "v=spf1 ip4:192.0.2.77 ?all"
`)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w.keys["evilexample.org"] = priv
	w.dns.MustAdd(t, `sel._domainkey.evilexample.org. IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
	base := w.message(t, "CEO <ceo@example.org>", "", "")
	// The own signature is made, then the body changes (so it fails) and
	// the partner signs what arrives (so its signature passes).
	brokenOwn := strings.Replace(w.signAs(t, base, "example.org"), "Hello.", "Pay the invoice.", 1)
	twoSigs := relayHeader("spam.spammer.example 192.0.2.66") + w.signAs(t, brokenOwn, "partner.example")
	lookalikeSigned := relayHeader("spam.spammer.example 192.0.2.66") + w.signAs(t, base, "evilexample.org")
	protect := "[[domain]]\nname = \"soft.example\"\n[[domain]]\nname = \"neutral.example\"\n"
	runEngineCases(t, w, []engineCase{
		{name: "own From, broken own signature beside a valid foreign one", ip: "198.51.100.5", mailFrom: "bounce@partner.example",
			msg: twoSigs, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "own From, SPF pass for a look-alike envelope domain", ip: "198.51.100.5", mailFrom: "ceo@evilexample.org",
			msg: relayHeader("spam.spammer.example 192.0.2.66") + base, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "edge MX: SPF pass for a look-alike envelope domain", ip: "192.0.2.66", mailFrom: "ceo@eviledge.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "boss@edge.example", "", ""),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "own From, valid signature of a look-alike domain", ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg: lookalikeSigned, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "protected sender, SPF ~all softfail", extra: protect, ip: "192.0.2.66", mailFrom: "boss@soft.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "x@spammer.example", "", ""),
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "protected sender, SPF ?all neutral", extra: protect, ip: "192.0.2.66", mailFrom: "boss@neutral.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "x@spammer.example", "", ""),
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "protected sender, SPF ~all from its own server", extra: protect, ip: "198.51.100.5", mailFrom: "boss@soft.example",
			msg: relayHeader("mta.provider.example 192.0.2.77") + w.message(t, "boss@soft.example", "", ""), action: config.ActionAccept, stage: StageBody},
	})
}

// relayHeader is the filter's own Received header naming the original
// client "helo ip", as engineWorld.message writes it.
func relayHeader(origin string) string {
	helo, ip, _ := strings.Cut(origin, " ")
	return "Received: from " + helo + " (" + helo + " [" + ip + "])\r\n\tby filter.example.org (Postfix) with ESMTPS id 4ABC123\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000\r\n"
}
