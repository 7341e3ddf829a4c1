package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// TestEngineRelayTraceHostileHelo: forged own-domain mail whose relay
// header carries a HELO that names the own outbound server (203.0.113.10).
// As Postfix writes such a HELO the real client is still known and the
// forgery is refused on it; written as sent by a relay that keeps the
// HELO, the header is ambiguous and the forgery is refused all the same:
// without a client SPF cannot pass. relay.trace_error decides what other
// mail with such a header gets (here tempfail for a partner's message).
func TestEngineRelayTraceHostileHelo(t *testing.T) {
	w := newEngineWorld(t)
	const by = "\r\n\tby filter.example.org (Postfix) with ESMTP id 4ABC123\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000\r\n"
	forged := func(from string) string {
		return "Received: from " + from + by + w.message(t, "CEO <ceo@example.org>", "", "")
	}
	partner := func(from string) string {
		return "Received: from " + from + by + w.message(t, "alice@partner.example", "partner.example", "")
	}
	postfix := []string{
		"x?[203.0.113.10] (unknown [192.0.2.66])",
		"x??out.example.org?[203.0.113.10]??by?filter.example.org??Postfix??with?ESMTP?id?Q??Mon (unknown [192.0.2.66])",
		"[203.0.113.10] (unknown [192.0.2.66])",
	}
	asSent := []string{
		"x [203.0.113.10] (unknown [192.0.2.66])",
		"x (out.example.org [203.0.113.10]) (unknown [192.0.2.66])",
		"x (out.example.org [203.0.113.10]) by filter.example.org with ESMTP id Q; Mon (unknown [192.0.2.66])",
		"unknown (HELLO 203.0.113.10) (192.0.2.66)",
	}
	const tempfailRelay = "[[relay]]\nname = \"strict\"\nnetworks = [\"198.51.103.0/24\"]\ntrace_error = \"tempfail\""
	var cases []engineCase
	for _, from := range postfix {
		cases = append(cases, engineCase{name: "postfix " + from, ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg: forged(from), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders})
	}
	for _, from := range asSent {
		cases = append(cases,
			engineCase{name: "as sent " + from, ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
				msg: forged(from), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
			engineCase{name: "as sent, trace_error tempfail " + from, extra: tempfailRelay, ip: "198.51.103.5",
				mailFrom: "alice@partner.example", rcpts: []string{"user@edge.example"},
				msg: partner(from), action: config.ActionTempFail, rule: RuleRelayTrace, stage: StageHeaders})
	}
	runEngineCases(t, w, cases)
}

// TestEngineRelayTraceAmbiguousReason: the trace says why the header was
// not believed, and no original client is set from it.
func TestEngineRelayTraceAmbiguousReason(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", "", Options{})
	msg := "Received: from x [203.0.113.10] (unknown [192.0.2.66]) by filter.example.org (Postfix) with ESMTP id Q; Mon, 1 Jan 2024 10:00:01 +0000\r\n" +
		w.message(t, "CEO <ceo@example.org>", "", "")
	m, _, err := e.Run(context.Background(), Transaction{
		Client:   Client{IP: netip.MustParseAddr("198.51.100.5"), Helo: "filter.example.org"},
		MailFrom: "bounce@spammer.example", Rcpts: []string{"user@example.org"},
		Message: strings.NewReader(msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := m.Origin
	if o == nil || o.IP.IsValid() || o.Class != ClassInternet || !strings.Contains(o.Err, "ambiguous") {
		t.Fatalf("origin = %+v, want no client and an 'ambiguous' reason", o)
	}
}
