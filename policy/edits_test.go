package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// runEdits runs one transaction and returns the message the engine kept.
func runEdits(t *testing.T, e *Engine, ip, mailFrom, rcpt, msg string) *Message {
	t.Helper()
	m, _, err := e.Run(context.Background(), Transaction{
		Client:   Client{IP: netip.MustParseAddr(ip), Helo: "client.example"},
		MailFrom: mailFrom, Rcpts: []string{rcpt}, Message: strings.NewReader(msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHeaderEditsPlan: the engine decides which fields go and which come,
// as data: forged Authentication-Results claiming our authserv-id and
// every incoming verdict header (whatever its case) are deleted from the
// last up, the foreign Authentication-Results stays, and ours go on top.
func TestHeaderEditsPlan(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", "", Options{})
	forged := "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=partner.example; dmarc=pass"
	msg := w.message(t, "alice@partner.example", "partner.example", "mail.partner.example 192.0.2.30",
		forged, "X-Spoofguard: accept", "Authentication-Results: other.example; spf=fail",
		"Authentication-Results: MX.example.org.; dkim=pass", "x-spoofguard: accept too")
	m := runEdits(t, e, "198.51.100.5", "alice@partner.example", "user@example.org", msg)
	plan := m.HeaderEdits()
	why := "claims our authserv-id mx.example.org"
	want := []Removal{
		{"Authentication-Results", 3, " MX.example.org.; dkim=pass", why},
		{"Authentication-Results", 1, " mx.example.org; spf=pass smtp.mailfrom=partner.example; dmarc=pass", why},
		{"X-Spoofguard", 2, " accept too", "a verdict header from outside"},
		{"X-Spoofguard", 1, " accept", "a verdict header from outside"},
	}
	if len(plan.Remove) != len(want) {
		t.Fatalf("remove %+v, want %+v", plan.Remove, want)
	}
	for i := range want {
		if plan.Remove[i] != want[i] {
			t.Errorf("remove[%d] = %+v, want %+v", i, plan.Remove[i], want[i])
		}
	}
	if len(plan.Insert) != 2 || plan.Insert[0].Name != "Authentication-Results" || plan.Insert[1].Name != "X-Spoofguard" {
		t.Fatalf("insert %+v", plan.Insert)
	}
	if ar := plan.Insert[0].Value; ar != " "+m.AuthResults("mx.example.org") || !strings.Contains(ar, "dmarc=pass") {
		t.Errorf("inserted Authentication-Results %q", ar)
	}
	if vh := plan.Insert[1].Value; vh != " "+m.VerdictHeader() || !strings.Contains(vh, "accept") {
		t.Errorf("inserted verdict header %q", vh)
	}
}

// TestHeaderEditsNone: clean mail loses nothing, and a message refused at
// the end of the body gets no plan at all: the daemon changes no header
// of mail it rejects.
func TestHeaderEditsNone(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "verdict_header = \"X-Checked\"", "", "", Options{})
	clean := runEdits(t, e, "198.51.100.5", "alice@partner.example", "user@example.org",
		w.message(t, "alice@partner.example", "partner.example", "mail.partner.example 192.0.2.30", "X-Spoofguard: kept"))
	if p := clean.HeaderEdits(); p.Remove != nil || len(p.Insert) != 2 || p.Insert[1].Name != "X-Checked" {
		t.Errorf("clean mail: plan %+v", p)
	}
	refused := runEdits(t, e, "192.0.2.66", "x@spammer.example", "user@edge.example",
		w.message(t, "ceo@strict.example", "", "", "X-Checked: accept"))
	if v := refused.Verdict(); v.Rule != RuleDMARC || !v.EndsTransaction() {
		t.Fatalf("verdict %+v, want a DMARC reject", v)
	}
	if p := refused.HeaderEdits(); p.Remove != nil || p.Insert != nil {
		t.Errorf("refused mail: plan %+v", p)
	}
}
