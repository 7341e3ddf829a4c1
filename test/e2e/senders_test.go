//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/test/postfix"
)

// newsletter is a mailing service on the Internet (127.0.16.0/24 is this
// file's block) that signs with its own domain, mcsv.example, and sends
// example.org's newsletter through example.org's MX, the filter.
var newsletter = party{"127.0.16.80", "mta.mcsv.example"}

// senderZone adds the service to the world, and has example.org publish
// p=reject, so that its DMARC fails the service's mail as well.
var senderZone = strings.Replace(zone, `"v=DMARC1; p=none"`, `"v=DMARC1; p=reject"`, 1) + `
mcsv.example.              SOA   ns.mcsv.example. hostmaster.mcsv.example. 1 3600 600 86400 300
mcsv.example.              TXT   "v=spf1 ip4:127.0.16.80 -all"
`

// sendersWorld is the back end (an MTA with spoofguard, enforce mode)
// with the newsletter listed as an authorised sender of example.org, or
// not.
type sendersWorld struct {
	*world
	key *postfix.DKIMKey // the service's signing key
}

func newSendersWorld(t *testing.T, useSendmail bool, senders string) *sendersWorld {
	t.Helper()
	return newSendersWorldWith(t, useSendmail, "enforce", senders, "")
}

// newSendersWorldWith is newSendersWorld in the given mode, with extra
// tables appended to the daemon's configuration.
func newSendersWorldWith(t *testing.T, useSendmail bool, mode, senders, extra string) *sendersWorld {
	t.Helper()
	key, err := postfix.NewEd25519Key("mcsv.example", "k1")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := key.Record()
	if err != nil {
		t.Fatal(err)
	}
	w := &sendersWorld{world: &world{dns: dnstest.New(t, senderZone)}, key: key}
	w.dns.MustAdd(t, rec)
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := "inet:127.0.0.1:" + strconv.Itoa(port)
	w.config = filepath.Join(t.TempDir(), "spoofguard.toml")
	writeConfig(t, w.config, map[string]string{"Listen": listen, "AuthservID": authservID, "Mode": mode, "DNS": w.dns.Addr})
	addSenders(t, w.config, senders)
	appendConfig(t, w.config, extra)
	w.daemon = postfix.StartDaemon(t, spoofguardBinary(t), w.config, listen)
	w.mta = startMTA(t, useSendmail, listen)
	return w
}

// addSenders writes the senders line into the example.org table of the
// rendered configuration.
func addSenders(t *testing.T, path, senders string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchor := `header_forgery = "reject"` + "\n"
	if !strings.Contains(string(b), anchor) {
		t.Fatalf("the configuration template has no %q line", anchor)
	}
	out := strings.Replace(string(b), anchor, anchor+senders+"\n", 1)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// send has the service (or a forger on its network) send as
// news@example.org through the filter; signed asks for the service's
// DKIM signature. It returns what Postfix answered and the Message-ID.
func (w *sendersWorld) send(t *testing.T, mailFrom string, signed bool) (postfix.Result, string) {
	t.Helper()
	id := postfix.NewMessageID("example.org")
	data := postfix.Message{From: "Example News <news@example.org>", To: rcpt, Subject: "This month",
		MessageID: id, Body: "Our news.\n"}.Bytes()
	if signed {
		var err error
		if data, err = w.key.Sign(data); err != nil {
			t.Fatal(err)
		}
	}
	hop := postfix.Hop{FromHelo: newsletter.helo, FromIP: newsletter.ip, By: relay.helo, For: rcpt}
	r := w.mta.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: mailFrom, To: []string{rcpt}, Data: hop.Relay(data)})
	return r, id
}

// TestSendersSaaS, behind Postfix and behind Sendmail: a newsletter
// service signing with its own DKIM domain sends as example.org. Without an authorised sender entry the back end
// refuses it (header-forgery; DMARC p=reject too); with the entry
// `{ name = "Mailchimp", dkim = "mcsv.example" }` it is delivered, with
// the envelope sender in the service's domain or in example.org, and the
// Authentication-Results and the log name the entry. A forgery from the
// service's very network without the signature is still refused.
func TestSendersSaaS(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		t.Run("not listed", func(t *testing.T) {
			t.Parallel()
			w := newSendersWorld(t, useSendmail, "")
			r, id := w.send(t, "bounce@mcsv.example", true)
			w.expectRefused(t, r, id)
		})
		t.Run("listed", func(t *testing.T) {
			t.Parallel()
			w := newSendersWorld(t, useSendmail, `senders = [{ name = "Mailchimp", dkim = "mcsv.example" }]`)
			t.Run("service envelope", func(t *testing.T) { w.expectAuthorised(t, "bounce@mcsv.example") })
			t.Run("own envelope", func(t *testing.T) { w.expectAuthorised(t, "news@example.org") })
			t.Run("unsigned forgery, service envelope", func(t *testing.T) {
				r, id := w.send(t, "bounce+forged@mcsv.example", false)
				w.expectRefused(t, r, id)
			})
			t.Run("unsigned forgery, own envelope", func(t *testing.T) {
				r, id := w.send(t, "ceo@example.org", false)
				w.expectRefused(t, r, id)
			})
		})
	})
}

func (w *sendersWorld) expectAuthorised(t *testing.T, mailFrom string) {
	r, id := w.send(t, mailFrom, true)
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("refused at %s: %q\n%s\ndaemon:\n%s", r.Stage(), r.Reply(), r.Transcript, w.daemon.Log())
	}
	d := w.mta.WaitDelivered(t, id, 15*time.Second)
	ourAuthResults("dkim=pass header.d=mcsv.example", "dmarc=fail header.from=example.org")(t, d)
	verdict("accept")(t, d)
	if ar := strings.Join(strings.Fields(d.Get("Authentication-Results")), " "); !strings.Contains(ar, `authorised sender "Mailchimp" for example.org`) {
		t.Errorf("Authentication-Results does not name the authorised sender: %q", ar)
	}
	if line := w.daemonLine(t, mailFrom); !strings.Contains(line, "authorized_sender=Mailchimp") {
		t.Errorf("spoofguard's line does not name the authorised sender:\n%s", line)
	}
}

func (w *sendersWorld) expectRefused(t *testing.T, r postfix.Result, id string) {
	t.Helper()
	if r.Stage() != postfix.StageEndData || !strings.HasPrefix(r.Reply(), "550 5.7.1") {
		t.Errorf("want 550 5.7.1 at %s, got %s %q\n%s", postfix.StageEndData, r.Stage(), r.Reply(), r.Transcript)
	}
	if d := w.mta.FindDelivered(t, id); d != nil {
		t.Errorf("refused message delivered to %s", d.Path)
	}
}
