package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
)

// An own outbound server that also takes mail from the Internet must not
// pass forged own-domain mail on unchecked: its own Received header shows
// where it took the message from.
func TestEngineBehindOutboundServer(t *testing.T) {
	w := newEngineWorld(t)
	hop := func(from string) string {
		return "Received: " + from + "\r\n\tby out.example.org (Postfix) with ESMTP id 4OUT1\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 09:59:00 +0000"
	}
	forged := func(headers ...string) string { return w.message(t, "CEO <ceo@example.org>", "", "", headers...) }
	fromInternet := hop("from attacker.example (unknown [192.0.2.66])")
	runEngineCases(t, w, []engineCase{
		{name: "forged own From taken from the Internet", ip: "203.0.113.10", mailFrom: "bounce@spammer.example",
			msg: forged(fromInternet), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "forged own envelope taken from the Internet", ip: "203.0.113.10", mailFrom: "ceo@example.org",
			msg: forged(fromInternet), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "own HELO taken from the Internet", ip: "203.0.113.10", mailFrom: "x@spammer.example",
			msg:    w.message(t, "x@spammer.example", "", "", hop("from mail.example.org (unknown [192.0.2.66])")),
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "MTA's own header for this hop on top", ip: "203.0.113.10", mailFrom: "bounce@spammer.example",
			msg: forged("Received: from out.example.org (out.example.org [203.0.113.10]) by mx.example.org (8.17.1/8.17.1) with ESMTP id X; Mon, 1 Jan 2024 10:00:02 +0000",
				fromInternet),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "unreadable header written by the server", ip: "203.0.113.10", mailFrom: "bounce@spammer.example",
			msg: forged(hop("from attacker.example (unknown [999.1.1.1])")), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "own user with SMTP AUTH", ip: "203.0.113.10", mailFrom: "ceo@example.org",
			msg:    forged(strings.Replace(fromInternet, "with ESMTP", "with ESMTPSA", 1)),
			action: config.ActionAccept, stage: StageBody},
		{name: "application on a private range", ip: "203.0.113.10", mailFrom: "app@example.org",
			msg: forged(hop("from app01.corp (app01.corp [10.1.2.3])")), action: config.ActionAccept, stage: StageBody},
		{name: "own domain's SaaS sender through the server", ip: "203.0.113.10", mailFrom: "news@example.org",
			msg: forged(hop("from saas.example (saas.example [192.0.2.77])")), action: config.ActionAccept, stage: StageBody},
		{name: "local submission on the server", ip: "203.0.113.10", mailFrom: "root@example.org",
			msg:    forged("Received: by out.example.org (Postfix, from userid 0)\r\n\tid 4OUT2; Mon, 1 Jan 2024 09:59:00 +0000"),
			action: config.ActionAccept, stage: StageBody},
		{name: "message the server wrote itself", ip: "203.0.113.10", mailFrom: "ceo@example.org",
			msg: forged(), action: config.ActionAccept, stage: StageBody},
	})
}

// networks.internal is the administrator's to set: emptied, a private
// client behind the outbound server is judged like any other.
func TestEngineBehindOutboundInternalConfigurable(t *testing.T) {
	w := newEngineWorld(t)
	text := strings.Replace(fmt.Sprintf(engineConfig, "", w.dns.Addr, "", ""), "[networks]\n", "[networks]\ninternal = []\n", 1)
	cfg, err := config.ParseConfig("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers, Timeout: cfg.DNS.Timeout.Duration, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(context.Background(), cfg, res, Options{NoRefresh: true})
	t.Cleanup(e.Close)
	msg := w.message(t, "CEO <ceo@example.org>", "", "",
		"Received: from app01.corp (app01.corp [10.1.2.3])\r\n\tby out.example.org (Postfix) with ESMTP id 4OUT1; Mon, 1 Jan 2024 09:59:00 +0000")
	m, stage, err := e.Run(context.Background(), Transaction{Client: Client{IP: netip.MustParseAddr("203.0.113.10"), Helo: "out.example.org"},
		MailFrom: "app@example.org", Rcpts: []string{"user@example.org"}, Message: strings.NewReader(msg)})
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Verdict(); v.Action != config.ActionReject || stage != StageHeaders {
		t.Errorf("got %s rule=%q at %s, want a reject at end of headers\n%s", v.Action, v.Rule, stage, m.outcomeDump())
	}
	if ar := strings.Join(strings.Fields(m.AuthResults("mx.example.org")), " "); !strings.Contains(ar, "via outbound server 203.0.113.10 from 10.1.2.3") {
		t.Errorf("Authentication-Results: %s", ar)
	}
}
