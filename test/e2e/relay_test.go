//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// TestRelayHostileHelo runs example.org's inbound filter as a second,
// real Postfix on 127.0.0.20 that relays to the back end (spoofguard in
// its smtpd_milters), so the relay's Received header is the one Postfix
// writes. A spammer on 127.0.0.66 connects to the filter with HELO
// arguments that try to make that header name the own outbound server
// (127.0.0.10) as the original client, and sends mail forged as
// ceo@example.org. Every such message must be refused by spoofguard at the
// back end (the filter then bounces it) and never reach a Maildir; mail
// from a partner and from the own outbound server through the same filter
// is delivered.
func TestRelayHostileHelo(t *testing.T) {
	w := newWorld(t, worldOptions{mode: "enforce"})
	filter := startFilter(t, w.postfix(t))
	fake := outbound.ip
	hostile := []string{
		"x [" + fake + "]",
		"[" + fake + "]",
		fake,
		"x (mail.example.org [" + fake + "])",
		"x (mail.example.org [" + fake + "]) by filter.example.org (Postfix) with ESMTP id Q; Fri",
		"x by filter.example.org with ESMTP id Q; Fri, 4 Dec 2026 10:00:00 +0000 from y (mail.example.org [" + fake + "])",
		"x) (LHLO " + fake,
		"x) (HELLO " + fake,
		"x [" + fake + "] \"",
		"x [" + fake + "] <",
		"x [" + fake + "];",
		"x [" + fake + "] (EHLO",
		"x\r[" + fake + "]",
		strings.Repeat("a", 1000) + " [" + fake + "]",
		"exämple.org [" + fake + "]",
	}
	for i, helo := range hostile {
		t.Run(fmt.Sprintf("hostile %d %.40q", i, helo), func(t *testing.T) {
			t.Parallel()
			w.relayForged(t, filter, helo, "bounce+"+strconv.Itoa(i)+"@spammer.example")
		})
	}
	// A line break in the HELO ends the command; what follows is another
	// command to Postfix. Whatever the filter makes of it, the forgery
	// must not be delivered.
	t.Run("CR LF in HELO", func(t *testing.T) {
		t.Parallel()
		w.relayNotDelivered(t, filter, "x\r\n(mail.example.org ["+fake+"])", "bounce+crlf@spammer.example")
	})
	t.Run("partner through the filter", func(t *testing.T) {
		t.Parallel()
		w.relayDelivered(t, filter, partner, partner.helo, "news@partner.example", "Partner <news@partner.example>", "spf=pass")
	})
	t.Run("partner with an address-literal HELO", func(t *testing.T) {
		t.Parallel()
		w.relayDelivered(t, filter, partner, "["+partner.ip+"]", "news+literal@partner.example", "Partner <news@partner.example>", "spf=pass")
	})
	t.Run("own outbound server through the filter", func(t *testing.T) {
		t.Parallel()
		w.relayDelivered(t, filter, outbound, outbound.helo, "ceo@example.org", "CEO <ceo@example.org>", "")
	})
}

// startFilter starts the filtering relay: a Postfix on the relay's
// address that accepts mail for example.org from anyone and passes it to
// the back end from that same address, as spoofguard's [[relay]] expects.
func startFilter(t *testing.T, backend *postfix.Instance) *postfix.Instance {
	t.Helper()
	return postfix.Start(t, postfix.Config{
		Hostname: relay.helo,
		Address:  relay.ip,
		Domains:  []string{"filter.invalid"},
		Extra: []string{
			"relay_domains = example.org",
			"transport_maps = inline:{ example.org=smtp:[" + strings.Replace(backend.Addr, ":", "]:", 1) + " }",
			"smtp_bind_address = " + relay.ip,
		},
	})
}

// relayForged sends forged CEO mail through the filter with the given
// HELO and checks that spoofguard refused it on the real client, that the
// filter bounced it, and that it is in no Maildir. mailFrom is unique per
// case, which finds the daemon's log line.
func (w *world) relayForged(t *testing.T, filter *postfix.Instance, helo, mailFrom string) {
	id := postfix.NewMessageID("example.org")
	msg := postfix.Message{From: "CEO <ceo@example.org>", To: rcpt, Subject: "wire the money", MessageID: id, Body: "Now.\n"}
	r := filter.Send(t, postfix.Mail{Client: spammer.ip, Helo: helo, From: mailFrom, To: []string{rcpt}, Data: msg.Bytes()})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("the filter refused the message at %s: %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	status := waitStatus(t, filter, r.QueueID)
	if !strings.Contains(status, "status=bounced") || !strings.Contains(status, "5.7.1") {
		t.Errorf("filter's delivery to the back end: %s; want bounced with 5.7.1", status)
	}
	line := w.daemonLine(t, mailFrom)
	t.Logf("spoofguard: %s", line)
	for _, want := range []string{"class=relay", "verdict=reject", "rule=header-forgery"} {
		if !strings.Contains(line, want) {
			t.Errorf("spoofguard's decision lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "origin="+outbound.ip) {
		t.Errorf("spoofguard took the HELO's address for the client:\n%s", line)
	}
	if d := w.mta.FindDelivered(t, id); d != nil {
		t.Errorf("forged message delivered to %s", d.Path)
	}
}

// relayNotDelivered sends forged CEO mail through the filter and checks
// only that it reaches no Maildir, whatever the filter did with it.
func (w *world) relayNotDelivered(t *testing.T, filter *postfix.Instance, helo, mailFrom string) {
	id := postfix.NewMessageID("example.org")
	msg := postfix.Message{From: "CEO <ceo@example.org>", To: rcpt, Subject: "wire the money", MessageID: id, Body: "Now.\n"}
	r := filter.Send(t, postfix.Mail{Client: spammer.ip, Helo: helo, From: mailFrom, To: []string{rcpt}, Data: msg.Bytes()})
	t.Logf("filter: %s %q", r.Stage(), r.Reply())
	if r.Stage() == postfix.StageAccepted {
		if status := waitStatus(t, filter, r.QueueID); !strings.Contains(status, "status=bounced") {
			t.Errorf("filter's delivery to the back end: %s; want bounced", status)
		}
	}
	if d := w.mta.FindDelivered(t, id); d != nil {
		t.Errorf("forged message delivered to %s", d.Path)
	}
}

// relayDelivered sends legitimate mail from origin through the filter and
// expects it in the example.org Maildir with our Authentication-Results
// containing ar (when set).
func (w *world) relayDelivered(t *testing.T, filter *postfix.Instance, origin party, helo, mailFrom, from, ar string) {
	id := postfix.NewMessageID(domainOf(mailFrom))
	msg := postfix.Message{From: from, To: rcpt, Subject: "hello", MessageID: id, Body: "Hello.\n"}
	r := filter.Send(t, postfix.Mail{Client: origin.ip, Helo: helo, From: mailFrom, To: []string{rcpt}, Data: msg.Bytes()})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("the filter refused the message at %s: %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	if status := waitStatus(t, filter, r.QueueID); !strings.Contains(status, "status=sent") {
		t.Fatalf("filter's delivery to the back end: %s; want sent\ndaemon: %s", status, w.daemonLine(t, mailFrom))
	}
	d := w.mta.WaitDelivered(t, id, 15*time.Second)
	if got := d.Get("Authentication-Results"); ar != "" && !strings.Contains(got, ar) {
		t.Errorf("Authentication-Results %q lacks %q", got, ar)
	}
	if line := w.daemonLine(t, mailFrom); !strings.Contains(line, "origin="+origin.ip) {
		t.Errorf("spoofguard did not trace the message to %s:\n%s", origin.ip, line)
	}
}

// waitStatus waits for the filter's log line that says what became of its
// queue file qid: sent, bounced or deferred.
func waitStatus(t *testing.T, filter *postfix.Instance, qid string) string {
	t.Helper()
	if qid == "" {
		t.Fatal("swaks reported no queue id")
	}
	return filter.WaitLog(t, 20*time.Second, qid+":", "status=")
}

// daemonLine waits for spoofguard's log line about the message with the
// envelope sender mailFrom (the key " from=", not the header_from= that
// ends with the same text).
func (w *world) daemonLine(t *testing.T, mailFrom string) string {
	t.Helper()
	var line string
	deadline := time.Now().Add(10 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		for _, l := range strings.Split(w.daemon.Log(), "\n") {
			if strings.Contains(l, "msg=message") && strings.Contains(l, " from="+mailFrom+" ") {
				line = l
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if line == "" {
		t.Fatalf("no spoofguard log line for from=%s", mailFrom)
	}
	return line
}

// postfix returns the world's MTA for the tests that need Postfix itself
// (its queue tools, a second instance relaying to it).
func (w *world) postfix(t *testing.T) *postfix.Instance {
	t.Helper()
	pf, ok := w.mta.(*postfix.Instance)
	if !ok {
		t.Fatalf("the world's MTA is %T, not Postfix", w.mta)
	}
	return pf
}
