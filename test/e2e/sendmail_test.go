//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
	"github.com/spoofguard/spoofguard/test/sendmail"
)

// TestSendmailUnixSocket attaches the daemon to Sendmail over a local:
// socket (S=local:/path).
func TestSendmailUnixSocket(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "enforce", unix: true, sendmail: true})
	w.runAll(t, []scenario{
		with(partnerRelayed, delivered(all(
			ourAuthResults("dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			verdict("accept")))),
		with(forgedOwnFromDirect, rejected(postfix.StageRcpt, "550 5.7.1", "example.org", "MX")),
	})
}

// TestSendmailQuarantineReason checks what Sendmail keeps of a
// quarantine: the message stays in the queue as an hf file whose q line
// is the daemon's reason (rule and text), and "mailq -qQ" lists it with
// that reason; nothing is delivered.
func TestSendmailQuarantineReason(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "enforce", sendmail: true})
	sm := w.mta.(*sendmail.Instance)
	s := quarantinePartnerRelayed
	id := postfix.NewMessageID(domainOf(s.from))
	hop := postfix.Hop{FromHelo: s.origin.helo, FromIP: s.origin.ip, By: relay.helo, For: rcpt}
	r := sm.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: s.mailFrom, To: []string{rcpt},
		Data: hop.Relay(w.message(t, s, id))})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("want accepted into the quarantine, got %s %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	q := sm.WaitQuarantine(t, id, 15*time.Second)
	if !strings.HasPrefix(q.Reason, "dmarc domain=bank.example: DMARC fail") {
		t.Errorf("quarantine reason %q: want the rule (dmarc) and the domain", q.Reason)
	}
	if !strings.Contains(w.daemon.Log(), "queue="+q.QueueID) {
		t.Errorf("the daemon's log does not name Sendmail's queue id %s", q.QueueID)
	}
	list, err := sm.Mailq("-qQ")
	if err != nil {
		t.Fatal(err)
	}
	// mailq cuts the reason at the width of its column.
	if !strings.Contains(list, "QUARANTINE: "+q.Reason[:40]) {
		t.Errorf("mailq -qQ does not show the reason %q:\n%s", q.Reason, list)
	}
	if d := sm.FindDelivered(t, id); d != nil {
		t.Errorf("quarantined message was delivered: %s", d.Path)
	}
}
