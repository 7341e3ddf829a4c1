package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// A client that greets with a name in a protected domain must be one of
// the domain's servers: SPF for the HELO identity (RFC 7208 §2.3) has to
// pass unless the client may use the own domains anyway.
func TestEngineOwnHelo(t *testing.T) {
	w := newEngineWorld(t)
	w.dns.MustAdd(t, `
mx1.edge.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
flaky.edge.example. IN TXT "v=spf1 -all"
`)
	w.dns.SetFault("flaky.edge.example", dnstest.ServFail)
	edge := []string{"user@edge.example"}
	plain := w.message(t, "x@spammer.example", "", "")
	runEngineCases(t, w, []engineCase{
		{name: "own HELO from the Internet, no HELO SPF", ip: "192.0.2.66", helo: "mail.edge.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "own HELO, trailing dot and capitals", ip: "192.0.2.66", helo: "Mail.Edge.Example.", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "own HELO whose SPF passes the client", ip: "192.0.2.66", helo: "mx1.edge.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionAccept, stage: StageBody},
		{name: "own HELO whose SPF fails the client", ip: "192.0.2.67", helo: "mx1.edge.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "own HELO, SPF SERVFAIL", ip: "192.0.2.66", helo: "flaky.edge.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionTempFail, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "own HELO with action accept", extra: "[[domain]]\nname = \"lax.example\"\nenvelope_forgery = \"accept\"", ip: "192.0.2.66",
			helo: "mail.lax.example", mailFrom: "x@spammer.example", rcpts: edge, msg: plain, action: config.ActionAccept, stage: StageBody},
		{name: "own HELO from an outbound server", ip: "203.0.113.10", helo: "mail.edge.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionAccept, stage: StageBody},
		{name: "own HELO from an authenticated user", ip: "192.0.2.99", auth: "alice", helo: "mail.edge.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionAccept, stage: StageBody},
		{name: "own HELO behind the relay", ip: "198.51.100.5", helo: "filter.example.org", mailFrom: "x@spammer.example",
			msg: w.message(t, "x@spammer.example", "", "mail.example.org 192.0.2.66"), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "foreign HELO", ip: "192.0.2.66", helo: "mail.spammer.example", mailFrom: "x@spammer.example",
			rcpts: edge, msg: plain, action: config.ActionAccept, stage: StageBody},
	})
}

// The HELO result is reported in Authentication-Results (RFC 8601
// §2.7.2, smtp.helo), and only a protected HELO costs a lookup.
func TestEngineOwnHeloReported(t *testing.T) {
	w := newEngineWorld(t)
	w.dns.MustAdd(t, `mx1.edge.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"`)
	e := w.engine(t, "", "", "", Options{})
	run := func(helo string) *Message {
		m, _, err := e.Run(context.Background(), Transaction{Client: Client{IP: netip.MustParseAddr("192.0.2.66"), Helo: helo},
			MailFrom: "x@spammer.example", Rcpts: []string{"user@edge.example"}, Message: strings.NewReader(w.message(t, "x@spammer.example", "", ""))})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if ar := run("mx1.edge.example").AuthResults("mx.example.org"); !strings.Contains(ar, "spf=pass smtp.helo=mx1.edge.example") {
		t.Errorf("Authentication-Results lacks the HELO result:\n%s", ar)
	}
	if m := run("mail.spammer.example"); m.HELO != nil || strings.Contains(m.AuthResults("mx.example.org"), "smtp.helo") {
		t.Errorf("a foreign HELO was checked: %+v", m.HELO)
	}
}
