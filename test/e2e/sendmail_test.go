//go:build e2e

package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/test/postfix"
	"github.com/spoofguard/spoofguard/test/sendmail"
)

// TestSendmailHarnessNoMilter runs Sendmail with no milter: a DKIM-signed
// message from an Internet client is accepted, lands in the Maildir with
// Sendmail's Received header naming the client, and its signature still
// verifies there. When this fails, the Sendmail harness is broken, not
// spoofguard.
func TestSendmailHarnessNoMilter(t *testing.T) {
	t.Parallel()
	key := partnerDKIM(t)
	rec, err := key.Record()
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.New(t, rec)
	sm := sendmail.Start(t, sendmail.Config{Domains: []string{"example.org"}})

	id := postfix.NewMessageID("partner.example")
	msg := postfix.Message{From: "news@partner.example", To: rcpt,
		Subject: "harness", MessageID: id, Body: "hello\n.leading dot\n"}
	signed, err := key.Sign(msg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	r := sm.Send(t, postfix.Mail{Client: partner.ip, Helo: partner.helo,
		From: "news@partner.example", To: []string{rcpt}, Data: signed})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("not accepted: %s %s\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	d := sm.WaitDelivered(t, id, 10*time.Second)
	if !strings.Contains(d.Path, "/example.org/new/") {
		t.Errorf("delivered to %s, want the example.org Maildir", d.Path)
	}
	// Unresolved peer, no ident: "from HELO ([IP]) by HOST (8.x/8.x) ...".
	if got := d.Get("Received"); !strings.HasPrefix(got, "from "+partner.helo+" (["+partner.ip+"]) by mx.example.org (8.") {
		t.Errorf("Sendmail's Received header %q", got)
	}
	if !strings.Contains(string(d.Raw), "\n.leading dot\n") {
		t.Errorf("dot-stuffing not undone; message:\n%s", d.Raw)
	}
	crlf := strings.ReplaceAll(string(d.Raw), "\n", "\r\n")
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(crlf), &dkim.VerifyOptions{LookupTXT: postfix.TXTLookup(dns.Addr)})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
		t.Errorf("DKIM of the delivered copy: %v %+v", err, verifs)
	}
}

// TestSendmailMilterDown points INPUT_MAIL_FILTER with F=T at a port
// nobody listens on: the mail is refused with a 4xx, never accepted
// unchecked — what examples/sendmail promises.
func TestSendmailMilterDown(t *testing.T) {
	t.Parallel()
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sm := sendmail.Start(t, sendmail.Config{Domains: []string{"example.org"},
		Milters: []sendmail.Milter{{Name: "spoofguard", Socket: "inet:127.0.0.1:" + strconv.Itoa(port)}}})
	msg := postfix.Message{From: "news@partner.example", To: rcpt, Subject: "no milter",
		MessageID: postfix.NewMessageID("partner.example"), Body: "hello\n"}
	r := sm.Send(t, postfix.Mail{Client: partner.ip, From: "news@partner.example", To: []string{rcpt}, Data: msg.Bytes()})
	if r.Stage() == postfix.StageAccepted || !strings.HasPrefix(r.Reply(), "4") {
		t.Fatalf("got %s %q, want a 4xx refusal\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
}

// TestSendmailEnforce runs the enforce-mode scenarios through Sendmail:
// the same messages and outcomes as TestEnforce with Postfix.
func TestSendmailEnforce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "enforce", sendmail: true})
	w.runAll(t, []scenario{
		with(forgedOwnEnvelope, rejected(postfix.StageMail, "550 5.7.1", "example.org")),
		with(forgedOwnFromDirect, rejected(postfix.StageRcpt, "550 5.7.1", "example.org", "MX")),
		with(forgedOwnFromRelayed, rejected(postfix.StageEndData, "550 5.7.1")),
		with(partnerRelayed, delivered(all(
			ourAuthResults("spf=pass smtp.mailfrom=partner.example",
				"dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			verdict("accept")))),
		with(partnerDirect, rejected(postfix.StageRcpt, "550 5.7.1", "example.org", "MX")),
		with(ownOutbound, delivered(all(ourAuthResults(), verdict("accept")))),
		with(quarantinePartnerRelayed, held(all(
			ourAuthResults("dmarc=fail header.from=bank.example"),
			verdict("quarantine", "dmarc")))),
		with(forgedAuthResults, delivered(all(
			ourAuthResults("dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			noHeaderMentions("Authentication-Results", "forged.example"),
			keepsHeader("Authentication-Results", "filter.example.org; spf=pass smtp.mailfrom=partner.example"),
			verdict("accept")))),
		with(partnerReplayedBySpammer, rejected(postfix.StageEndData, "550 5.7.1")),
	})
}

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
