package milter

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"
)

// impersonationDomain is a protected edge-MX domain with people and an
// allowed lookalike; its lookalike action is reject so that the two rules
// are told apart by what the MTA sees.
const impersonationDomain = `
[[domain]]
name = "northbank.example"
display_name = "quarantine"
lookalike = "reject"
people = ["Jane Doe"]
lookalike_allow = ["northbank-group.example"]
`

func newImpersonationWorld(t *testing.T, milterLines string) *daemonWorld {
	t.Helper()
	w := newDaemonWorld(t, milterLines)
	cfg := fmt.Sprintf(daemonConfig, milterLines, w.dns.Addr) + impersonationDomain
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.d.Reload(); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDaemonImpersonation drives mail that only looks like it comes from
// a protected domain through the daemon: display names at end of headers
// (held), lookalike domains (refused, the configured action), and mail
// from partners and own senders untouched.
func TestDaemonImpersonation(t *testing.T) {
	w := newImpersonationWorld(t, "")
	addr := w.d.Addr().String()
	msg := func(from string) string {
		return strings.Replace(w.message(from, false, ""), "To: user@example.org", "To: user@northbank.example", 1)
	}
	rcpt := []string{"user@northbank.example"}
	held := func(name, from, mailFrom string) {
		t.Run("display name "+name, func(t *testing.T) {
			r := send(t, addr, "192.0.2.66", "spam.example", "", mailFrom, rcpt, msg(from))
			if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || !r.quarantined() {
				t.Fatalf("got %s %v quarantined=%v", r.stage, r.act, r.quarantined())
			}
			if v := r.header("X-Spoofguard"); len(v) != 1 || !strings.Contains(v[0], "quarantine rule=display-name domain=northbank.example") {
				t.Errorf("verdict header %q", v)
			}
		})
	}
	held("quoted", `"ceo@northbank.example" <x@spammer.example>`, "x@spammer.example")
	held("unquoted", `CEO northbank.example <x@spammer.example>`, "x@spammer.example")
	t.Run("display name unquoted address, read as the author", func(t *testing.T) {
		// An unquoted address before the angle brackets is taken for the
		// author by the From parser, so header-forgery refuses it first.
		r := send(t, addr, "192.0.2.66", "spam.example", "", "x@spammer.example", rcpt, msg(`ceo@northbank.example <x@spammer.example>`))
		if r.stage != "eoh" || !isReject(r.act, 550) {
			t.Fatalf("got %s %v", r.stage, r.act)
		}
	})
	held("RFC 2047 encoded", `=?utf-8?q?ceo=40northbank=2Eexample?= <x@spammer.example>`, "x@spammer.example")
	held("in a comment", `x@spammer.example (ceo@northbank.example)`, "x@spammer.example")
	held("of a protected person with a free-mail address", `"Jane Doe, CEO" <jane.doe.ceo@gmail.example>`, "jane.doe.ceo@gmail.example")
	held("with confusable letters", `"Jаne Dое" <jane@gmail.example>`, "jane@gmail.example")

	refused := func(name, from, mailFrom string) {
		t.Run("lookalike "+name, func(t *testing.T) {
			r := send(t, addr, "192.0.2.66", "spam.example", "", mailFrom, rcpt, msg(from))
			if r.stage != "eoh" || !isReject(r.act, 550) || !strings.Contains(r.act.SMTPReply, "imitates northbank.example") {
				t.Fatalf("got %s %v", r.stage, r.act)
			}
		})
	}
	refused("digit for letter", "ceo@n0rthbank.example", "x@spammer.example")
	refused("Cyrillic homograph", "ceo@nоrthbank.example", "x@spammer.example")
	refused("Greek homograph", "ceo@nοrthbank.example", "x@spammer.example")
	refused("IDN A-label", "ceo@xn--nrthbank-nbh.example", "x@spammer.example")
	refused("IDN U-label in the envelope", "x@spammer.example", "ceo@nоrthbank.example")
	refused("hyphenated", "ceo@north-bank.example", "x@spammer.example")
	refused("other suffix", "ceo@northbank.com", "x@spammer.example")
	refused("typo", "ceo@northbnak.example", "x@spammer.example")

	untouched := func(name, ip, auth, mailFrom, m string) {
		t.Run("untouched: "+name, func(t *testing.T) {
			r := send(t, addr, ip, "mail.example", auth, mailFrom, rcpt, m)
			if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || r.quarantined() {
				t.Fatalf("got %s %v quarantined=%v", r.stage, r.act, r.quarantined())
			}
		})
	}
	untouched("partner", "192.0.2.30", "", "alice@partner.example",
		strings.Replace(w.message("Alice <alice@partner.example>", true, ""), "To: user@example.org", "To: user@northbank.example", 1))
	untouched("allowed lookalike", "192.0.2.66", "", "news@northbank-group.example", msg("News <news@northbank-group.example>"))
	untouched("own outbound server", "203.0.113.10", "", "jane.doe@gmail.example", msg(`"Jane Doe" <jane.doe@gmail.example>`))
	untouched("authenticated user", "192.0.2.99", "jane", "jane@northbank.example", msg(`"ceo@northbank.example" <jane@northbank-group.example>`))
	untouched("unrelated names", "192.0.2.66", "", "x@spammer.example", msg(`"Janet Doering (northbank customer)" <janet@spammer.example>`))

	var metrics bytes.Buffer
	w.d.Metrics().WriteTo(&metrics)
	for _, want := range []string{
		`spoofguard_messages_total{action="quarantine",report_only="false",rule="display-name"} 6`,
		`spoofguard_messages_total{action="reject",report_only="false",rule="lookalike"} 8`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics.String())
		}
	}
	if !strings.Contains(w.logs.String(), `nоrthbank.example (Cyrillic о in place of o at position 2) looks like northbank.example`) {
		t.Errorf("the log does not explain the Cyrillic lookalike:\n%s", w.logs.String())
	}
}

// TestDaemonImpersonationReportOnly: in report-only mode both rules are
// recorded in the verdict header and nothing is enforced.
func TestDaemonImpersonationReportOnly(t *testing.T) {
	w := newImpersonationWorld(t, `mode = "report-only"`)
	for _, c := range []struct{ from, want string }{
		{`"ceo@northbank.example" <x@spammer.example>`, "quarantine rule=display-name domain=northbank.example (report-only"},
		{"ceo@n0rthbank.example", "reject rule=lookalike domain=northbank.example (report-only"},
	} {
		m := strings.Replace(w.message(c.from, false, ""), "To: user@example.org", "To: user@northbank.example", 1)
		r := send(t, w.d.Addr().String(), "192.0.2.66", "spam.example", "", "x@spammer.example", []string{"user@northbank.example"}, m)
		if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || r.quarantined() {
			t.Errorf("%s: got %s %v quarantined=%v", c.from, r.stage, r.act, r.quarantined())
		}
		if v := r.header("X-Spoofguard"); len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("%s: verdict header %q, want %q", c.from, v, c.want)
		}
	}
}
