package policy

import (
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// The obsolete syntax puts white space between a field name and its colon
// (RFC 5322 §4.5). Mail clients show "From : CEO <ceo@…>" as the author,
// so every field the rules read must be found under its name however it
// is written, in a saved message (ReadHeaders) as at the milter.
func TestEngineObsoleteFieldNames(t *testing.T) {
	w := newEngineWorld(t)
	spaced := func(msg, name string) string {
		return strings.Replace(msg, "\r\n"+name+":", "\r\n"+name+" \t :", 1)
	}
	first := func(msg, name string) string { return strings.Replace(msg, name+":", name+" :", 1) }
	ownSigned := w.message(t, "Alice <alice@example.org>", "example.org", "lists.example.net 192.0.2.40")
	partnerViaFilter := w.message(t, "alice@partner.example", "", "mail.partner.example 192.0.2.30")
	runEngineCases(t, w, []engineCase{
		{name: "From with a space before the colon", ip: "192.0.2.66", mailFrom: "x@spammer.example", rcpts: []string{"user@edge.example"},
			msg: first(w.message(t, `"CEO" <boss@edge.example>`, "", ""), "From"), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "From with a tab before the colon", ip: "192.0.2.66", mailFrom: "x@spammer.example", rcpts: []string{"user@edge.example"},
			msg:    strings.Replace(w.message(t, "boss@edge.example", "", ""), "From:", "From\t:", 1),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		// The relay's trace header is found as such: the original client
		// is the partner's own server, so SPF passes and DMARC with it.
		{name: "relay's Received with a space before the colon", ip: "198.51.100.5", mailFrom: "alice@partner.example",
			msg: first(partnerViaFilter, "Received"), action: config.ActionAccept, stage: StageBody},
		// An own signature is found at the end of the headers, so the
		// message waits for it; it verifies and rescues the message.
		{name: "own DKIM-Signature with a space before the colon", ip: "198.51.100.5", mailFrom: "list-bounces@lists.example.net",
			msg: spaced(ownSigned, "DKIM-Signature"), action: config.ActionAccept, stage: StageBody},
	})
}

// FieldName removes only the white space before the colon.
func TestFieldName(t *testing.T) {
	for written, want := range map[string]string{"From \t": "From", "X-A": "X-A", "Received\t": "Received"} {
		if got := FieldName(written); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", written, got, want)
		}
	}
}
