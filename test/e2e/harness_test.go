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
)

// TestHarnessNoMilter runs each MTA with no milter at all: a DKIM-signed
// message from an Internet client is accepted, found in the Maildir by its
// Message-ID, and its signature still verifies there — so the way the
// suite sends messages (swaks --no-data-fixup, dot-stuffing) keeps them
// intact. The MTA's Received header names the client. When this test
// fails, the harness (the MTA, swaks, the machine) is broken, not
// spoofguard.
func TestHarnessNoMilter(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		key := partnerDKIM(t)
		rec, err := key.Record()
		if err != nil {
			t.Fatal(err)
		}
		dns := dnstest.New(t, rec)
		m := startMTA(t, useSendmail, "")

		id := postfix.NewMessageID("partner.example")
		msg := postfix.Message{From: "news@partner.example", To: "user@example.org",
			Subject: "harness", MessageID: id, Body: "hello\n.leading dot\n"}
		signed, err := key.Sign(msg.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		r := m.Send(t, postfix.Mail{Client: "127.0.0.30", Helo: "mail.partner.example",
			From: "news@partner.example", To: []string{"user@example.org"}, Data: signed})
		if r.Stage() != postfix.StageAccepted {
			t.Fatalf("not accepted: %s %s\n%s", r.Stage(), r.Reply(), r.Transcript)
		}
		d := m.WaitDelivered(t, id, 10*time.Second)
		if !strings.Contains(d.Path, "/example.org/new/") {
			t.Errorf("delivered to %s, want the example.org Maildir", d.Path)
		}
		// Postfix: "from HELO (unknown [IP])"; Sendmail, the peer
		// unresolved and no ident: "from HELO ([IP])".
		if got := d.Get("Received"); !strings.Contains(got, "[127.0.0.30]") || !strings.HasPrefix(got, "from mail.partner.example (") {
			t.Errorf("the MTA's Received header %q does not name the client 127.0.0.30", got)
		}
		if !strings.Contains(string(d.Raw), "\n.leading dot\n") {
			t.Errorf("dot-stuffing not undone; message:\n%s", d.Raw)
		}
		crlf := strings.ReplaceAll(string(d.Raw), "\n", "\r\n")
		verifs, err := dkim.VerifyWithOptions(strings.NewReader(crlf), &dkim.VerifyOptions{LookupTXT: postfix.TXTLookup(dns.Addr)})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
			t.Errorf("DKIM of the delivered copy: %v %+v", err, verifs)
		}
		if p, ok := m.(*postfix.Instance); ok {
			p.WaitLog(t, 5*time.Second, r.QueueID, "status=sent")
		}
	})
}

// TestHarnessHold puts a message on hold with a header_checks rule, as
// spoofguard's quarantine does, and finds it in the hold queue and the log.
func TestHarnessHold(t *testing.T) {
	t.Parallel()
	p := postfix.Start(t, postfix.Config{
		Domains: []string{"example.org"},
		Files:   map[string]string{"header_checks": "/^Subject: hold me/ HOLD test hold\n"},
		Extra:   []string{"header_checks = regexp:$config_directory/header_checks"},
	})
	id := postfix.NewMessageID("partner.example")
	msg := postfix.Message{From: "news@partner.example", To: "user@example.org",
		Subject: "hold me", MessageID: id, Body: "hello\n"}
	r := p.Send(t, postfix.Mail{Client: "127.0.0.30", From: "news@partner.example",
		To: []string{"user@example.org"}, Data: msg.Bytes()})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("not accepted: %s %s\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	e := p.WaitHeld(t, id, 10*time.Second)
	if e.QueueID != r.QueueID {
		t.Errorf("held queue id %s, swaks saw %s", e.QueueID, r.QueueID)
	}
	p.WaitLog(t, 5*time.Second, r.QueueID, "hold: header Subject: hold me")
}

// TestHarnessMilterDown points each MTA's milter at a port nobody listens
// on: with milter_default_action = tempfail (Postfix) or F=T (Sendmail)
// the mail is refused with a 4xx, never silently accepted.
func TestHarnessMilterDown(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		port, err := postfix.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		m := startMTA(t, useSendmail, "inet:127.0.0.1:"+strconv.Itoa(port))
		msg := postfix.Message{From: "news@partner.example", To: "user@example.org",
			Subject: "no milter", MessageID: postfix.NewMessageID("partner.example"), Body: "hello\n"}
		r := m.Send(t, postfix.Mail{Client: "127.0.0.30", From: "news@partner.example",
			To: []string{"user@example.org"}, Data: msg.Bytes()})
		t.Logf("stage %s reply %q", r.Stage(), r.Reply())
		if r.Stage() == postfix.StageAccepted || !strings.HasPrefix(r.Reply(), "4") {
			t.Fatalf("got %s %q, want a 4xx refusal\n%s", r.Stage(), r.Reply(), r.Transcript)
		}
	})
}
