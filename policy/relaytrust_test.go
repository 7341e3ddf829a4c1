package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// deepRelay is a filtering service whose MTAs (198.51.105.0/24, named
// *.deep.example.net) pass a message through one to three hops, write
// their own Authentication-Results as mx.deep.example.net, and relay to
// this server for edge.example (a domain with no via, so example.org
// forgeries are judged by header-forgery, not direct delivery).
const deepRelay = `
[[relay]]
name = "deep"
networks = ["198.51.105.0/24"]
by_names = ["*.deep.example.net"]
authserv_id = "mx.deep.example.net"
trace_error = "tempfail"
`

// deepHop is a Received header one of the deep relay's MTAs writes.
func deepHop(from, by string) string {
	return "Received: from " + from + "\r\n\tby " + by + " (Postfix) with ESMTPS id 4ABC123\r\n\tfor <user@edge.example>; Mon, 1 Jan 2024 10:00:01 +0000\r\n"
}

// deepHops are the relay's headers for a message from origin ("helo ip")
// that crossed n of its MTAs: the inbound MX that origin connected to,
// then n-1 inner hops, the top one last.
func deepHops(origin string, n int) string {
	helo, ip, _ := strings.Cut(origin, " ")
	h := deepHop(helo+" ("+helo+" ["+ip+"])", "mx1.deep.example.net")
	inner := []string{
		"localhost (localhost [127.0.0.1])",
		"mx1.deep.example.net (mx1.deep.example.net [198.51.105.1])",
	}
	for i := 1; i < n; i++ {
		h = deepHop(inner[(i-1)%len(inner)], "scan"+string(rune('0'+i))+".deep.example.net") + h
	}
	return h
}

// runEdge runs msg through e as mail from ip, with the envelope sender
// mailFrom, for user@edge.example.
func runEdge(t *testing.T, e *Engine, ip, mailFrom, msg string) *Message {
	t.Helper()
	m, _, err := e.Run(context.Background(), Transaction{
		Client:   Client{IP: netip.MustParseAddr(ip), Helo: "out.deep.example.net"},
		MailFrom: mailFrom, Rcpts: []string{"user@edge.example"}, Message: strings.NewReader(msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// breakBody changes the body after signing, as a filter's footer does.
func breakBody(msg string) string {
	return strings.Replace(msg, "Hello.\r\n", "Hello.\r\n-- \r\nScanned by the filter.\r\n", 1)
}

func TestEngineRelayByNames(t *testing.T) {
	w := newEngineWorld(t)
	edge := []string{"user@edge.example"}
	forged := w.message(t, "CEO <ceo@example.org>", "", "")
	partner := w.message(t, "alice@partner.example", "partner.example", "")
	forgedBelow := deepHop("out.example.org (out.example.org [203.0.113.10])", "mx1.deep.example.net")
	var cases []engineCase
	for n := 1; n <= 3; n++ {
		hops := deepHops("spam.spammer.example 192.0.2.66", n)
		cases = append(cases,
			engineCase{name: "forged own From, hops " + string(rune('0'+n)), extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
				mailFrom: "bounce@spammer.example", msg: hops + forged, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
			engineCase{name: "forged own envelope, hops " + string(rune('0'+n)), extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
				mailFrom: "ceo@example.org", msg: hops + forged, action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
			engineCase{name: "forged header beneath the relay's, hops " + string(rune('0'+n)), extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
				mailFrom: "ceo@example.org", msg: hops + forgedBelow + forged, action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
			engineCase{name: "partner, hops " + string(rune('0'+n)), extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
				mailFrom: "alice@partner.example", msg: deepHops("mail.partner.example 192.0.2.30", n) + partner, action: config.ActionAccept, stage: StageBody},
			engineCase{name: "own outbound server, hops " + string(rune('0'+n)), extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
				mailFrom: "ceo@example.org", msg: deepHops("out.example.org 203.0.113.10", n) + forged, action: config.ActionAccept, stage: StageBody},
		)
	}
	cases = append(cases,
		engineCase{name: "top header not written by the relay", extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "alice@partner.example", msg: deepHop("mail.partner.example (mail.partner.example [192.0.2.30])", "mx.elsewhere.example") + partner,
			action: config.ActionTempFail, rule: RuleRelayTrace, stage: StageHeaders},
		engineCase{name: "the relay's chain breaks off", extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "alice@partner.example", msg: deepHop("mx1.deep.example.net (mx1.deep.example.net [198.51.105.1])", "scan1.deep.example.net") +
				deepHop("mail.partner.example (mail.partner.example [192.0.2.30])", "mx.elsewhere.example") + partner,
			action: config.ActionTempFail, rule: RuleRelayTrace, stage: StageHeaders},
	)
	runEngineCases(t, w, cases)
}

// TestEngineRelayByNamesOrigin: the walk names the client the deep relay's
// inbound MX took the message from, however many hops followed.
func TestEngineRelayByNamesOrigin(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", deepRelay, Options{})
	for n := 1; n <= 3; n++ {
		m := runEdge(t, e, "198.51.105.9", "alice@partner.example",
			deepHops("mail.partner.example 192.0.2.30", n)+w.message(t, "alice@partner.example", "partner.example", ""))
		if o := m.Origin; o == nil || o.IP.String() != "192.0.2.30" || o.Index != n-1 || o.Err != "" {
			t.Errorf("%d hops: origin %+v, want 192.0.2.30 from header %d", n, o, n-1)
		}
	}
}

func TestEngineRelayAuthResults(t *testing.T) {
	w := newEngineWorld(t)
	edge := []string{"user@edge.example"}
	origin := "mail.saas.example 192.0.2.77"
	ownSigned := breakBody(w.message(t, "CEO <ceo@example.org>", "example.org", ""))
	partner := breakBody(w.message(t, "alice@partner.example", "partner.example", ""))
	ar := func(id, results string) string { return "Authentication-Results: " + id + ";\r\n\t" + results + "\r\n" }
	relayAR := ar("mx.deep.example.net", "dkim=pass (good signature) header.d=example.org")
	hops2 := func(arAbove, arBetween, arBelow string) string {
		return arAbove + deepHop("localhost (localhost [127.0.0.1])", "scan1.deep.example.net") + arBetween +
			deepHops(origin, 1) + arBelow
	}
	runEngineCases(t, w, []engineCase{
		{name: "the relay's own results rescue a signature its footer broke", extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: hops2(relayAR, "", "") + ownSigned, action: config.ActionAccept, stage: StageBody},
		{name: "written between the relay's own hops", extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: hops2("", relayAR, "") + ownSigned, action: config.ActionAccept, stage: StageBody},
		{name: "an SPF pass aligned with From", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg:    hops2(ar("mx.deep.example.net", "spf=pass smtp.mailfrom=ceo@example.org"), "", "") + ownSigned,
			action: config.ActionAccept, stage: StageBody},
		{name: "below the original client's header: the sender wrote it", extra: deepRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: hops2("", "", relayAR) + ownSigned, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "another verifier's id", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg:    hops2(ar("mx.elsewhere.example", "dkim=pass header.d=example.org"), "", "") + ownSigned,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "the relay's id on a direct connection", ip: "192.0.2.77", rcpts: edge, mailFrom: "bounce@saas.example",
			msg: relayAR + ownSigned, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "a relay with no authserv_id trusts none", extra: strings.Replace(deepRelay, `authserv_id = "mx.deep.example.net"`, "", 1),
			ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example", msg: hops2(relayAR, "", "") + ownSigned,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "a fail the relay reported is not taken", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg:    hops2(ar("mx.deep.example.net", "dkim=fail header.d=example.org"), "", "") + ownSigned,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "an unaligned pass is not enough", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg:    hops2(ar("mx.deep.example.net", "dkim=pass header.d=evilexample.org"), "", "") + ownSigned,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "sender text in a comment is not a result", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg:    hops2(ar("mx.deep.example.net", "spf=fail (x; dkim=pass header.d=example.org) smtp.mailfrom=saas.example"), "", "") + ownSigned,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "DMARC local override for a partner (p=quarantine)", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg:    hops2(ar("mx.deep.example.net", "dkim=pass header.d=partner.example"), "", "") + partner,
			action: config.ActionAccept, stage: StageBody},
		{name: "no override without the relay's results", extra: deepRelay, ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example",
			msg: hops2("", "", "") + partner, action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
	})
}

// TestEngineRelayAuthResultsRecorded: our Authentication-Results says
// which result was taken and from where, and DMARC says it was overridden.
func TestEngineRelayAuthResultsRecorded(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", deepRelay, Options{})
	msg := "Authentication-Results: mx.deep.example.net; dkim=pass header.d=partner.example\r\n" +
		deepHops("mail.saas.example 192.0.2.77", 1) + breakBody(w.message(t, "alice@partner.example", "partner.example", ""))
	m := runEdge(t, e, "198.51.105.9", "bounce@saas.example", msg)
	got := m.AuthResults("mx.example.org")
	for _, want := range []string{`dkim=pass (from relay "deep"'s Authentication-Results, mx.deep.example.net)`, "header.d=partner.example;", "dmarc=fail", "local policy override"} {
		if !strings.Contains(strings.NewReplacer("\r\n\t", " ", "\r\n", "").Replace(got), want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, got)
		}
	}
}

// TestEngineRelayAuthResultsKept: the relay's own field is evidence, not
// a forgery: the header plan removes only the field claiming our id.
func TestEngineRelayAuthResultsKept(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", deepRelay, Options{})
	msg := "Authentication-Results: mx.deep.example.net; dkim=pass header.d=example.org\r\n" +
		"Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\n" +
		deepHops("mail.saas.example 192.0.2.77", 1) + breakBody(w.message(t, "CEO <ceo@example.org>", "example.org", ""))
	m := runEdge(t, e, "198.51.105.9", "bounce@saas.example", msg)
	if v := m.Verdict(); v.Action != config.ActionAccept {
		t.Fatalf("verdict %s (%s), want accept", v.Action, v.Reason)
	}
	rm := m.HeaderEdits().Remove
	if len(rm) != 1 || rm[0].Index != 2 || !strings.Contains(rm[0].Value, "mx.example.org;") {
		t.Errorf("removals %+v, want only the second field (our id)", rm)
	}
}
