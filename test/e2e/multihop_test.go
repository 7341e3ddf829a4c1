//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// The filtering service of the multi-hop test: three real Postfix
// instances in a row on 127.0.15.1-3 (this suite's block for them), each
// writing its own Received header and relaying to the next from its own
// address; the last relays to the back end. A message that enters at the
// inbound MX crosses three hops, one that enters at the scanner two, one
// that enters at the outbound stage one: the number varies per message,
// as at a real service.
var filterHops = []struct{ ip, name string }{
	{"127.0.15.1", "mx1.filter.example.net"},
	{"127.0.15.2", "scan.filter.example.net"},
	{"127.0.15.3", "out.filter.example.net"},
}

// multiHopRelay is the [[relay]] that follows the service by the names
// its MTAs write, however many of them a message crossed.
const multiHopRelay = `networks = ["127.0.15.0/29"]
by_names = ["*.filter.example.net"]
trace_error = "tempfail"`

// TestRelayMultiHop: forged own-domain mail from a spammer is refused
// whatever hop it entered at, and the daemon names the spammer as the
// original client; a partner's signed mail is delivered, judged on the
// partner's address (SPF pass), through one, two or three hops.
func TestRelayMultiHop(t *testing.T) {
	w := newWorld(t, worldOptions{mode: "enforce", relay: multiHopRelay})
	chain := startHops(t, w.postfix(t))
	for n := 1; n <= 3; n++ {
		entry := chain[len(chain)-n]
		t.Run(fmt.Sprintf("forged, %d hops", n), func(t *testing.T) {
			t.Parallel()
			w.multiHopForged(t, entry, fmt.Sprintf("bounce+hops%d@spammer.example", n))
		})
		t.Run(fmt.Sprintf("partner, %d hops", n), func(t *testing.T) {
			t.Parallel()
			w.multiHopDelivered(t, entry, fmt.Sprintf("news+hops%d@partner.example", n))
		})
	}
}

// startHops starts the service's MTAs from the last to the first, each
// relaying example.org to the one after it; it returns them in the order
// a message crosses them.
func startHops(t *testing.T, backend *postfix.Instance) []*postfix.Instance {
	t.Helper()
	chain := make([]*postfix.Instance, len(filterHops))
	next := backend.Addr
	for i := len(filterHops) - 1; i >= 0; i-- {
		h := filterHops[i]
		chain[i] = postfix.Start(t, postfix.Config{
			Hostname: h.name,
			Address:  h.ip,
			Domains:  []string{"filter.invalid"},
			Extra: []string{
				"relay_domains = example.org",
				"transport_maps = inline:{ example.org=smtp:[" + strings.Replace(next, ":", "]:", 1) + " }",
				"smtp_bind_address = " + h.ip,
			},
		})
		next = chain[i].Addr
	}
	return chain
}

// multiHopForged sends CEO mail forged by the spammer into the service at
// entry and checks that the back end's spoofguard refused it, judged on
// the spammer, and that it reached no Maildir.
func (w *world) multiHopForged(t *testing.T, entry *postfix.Instance, mailFrom string) {
	id := postfix.NewMessageID("example.org")
	msg := postfix.Message{From: "CEO <ceo@example.org>", To: rcpt, Subject: "wire the money", MessageID: id, Body: "Now.\n"}
	r := entry.Send(t, postfix.Mail{Client: spammer.ip, Helo: spammer.helo, From: mailFrom, To: []string{rcpt}, Data: msg.Bytes()})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("the service refused the message at %s: %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	line := w.daemonLine(t, mailFrom)
	t.Logf("spoofguard: %s", line)
	for _, want := range []string{"class=relay", "verdict=reject", "rule=header-forgery", "origin=" + spammer.ip} {
		if !strings.Contains(line, want) {
			t.Errorf("spoofguard's decision lacks %q:\n%s", want, line)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if d := w.mta.FindDelivered(t, id); d != nil {
		t.Errorf("forged message delivered to %s", d.Path)
	}
}

// multiHopDelivered sends the partner's signed mail into the service at
// entry and expects it delivered, with SPF evaluated for the partner.
func (w *world) multiHopDelivered(t *testing.T, entry *postfix.Instance, mailFrom string) {
	id := postfix.NewMessageID("partner.example")
	msg := postfix.Message{From: "Partner <news@partner.example>", To: rcpt, Subject: "hello", MessageID: id, Body: "Hello.\n"}
	signed, err := w.partner.Sign(msg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	r := entry.Send(t, postfix.Mail{Client: partner.ip, Helo: partner.helo, From: mailFrom, To: []string{rcpt}, Data: signed})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("the service refused the message at %s: %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	d := w.mta.WaitDelivered(t, id, 20*time.Second)
	if got := d.Get("Authentication-Results"); !strings.Contains(got, "spf=pass") || !strings.Contains(got, "from "+partner.ip) {
		t.Errorf("Authentication-Results %q: want spf=pass for %s", got, partner.ip)
	}
	if line := w.daemonLine(t, mailFrom); !strings.Contains(line, "origin="+partner.ip) {
		t.Errorf("spoofguard did not trace the message to %s:\n%s", partner.ip, line)
	}
}
