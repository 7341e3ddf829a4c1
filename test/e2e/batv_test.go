//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/batv"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/test/postfix"
	"github.com/spoofguard/spoofguard/test/sendmail"
)

// batvWorld is the test world with BATV on: two keys, the new one first
// (a rotation in progress), signing with the old one begun a month ago;
// Postfix passes locally submitted mail through non_smtpd_milters and
// strips tags with the shipped examples/postfix/batv-strip.regexp,
// Sendmail with examples/sendmail/batv.mc.
type batvWorld struct {
	m           mta
	p           *postfix.Instance // nil for Sendmail
	partner     *postfix.DKIMKey
	newKey, old *batv.Keys // each key alone
	both        *batv.Keys
}

func newBATVWorld(t *testing.T, useSendmail bool) *batvWorld {
	t.Helper()
	dir := t.TempDir()
	newPath, oldPath := filepath.Join(dir, "new.key"), filepath.Join(dir, "old.key")
	for _, p := range []string{newPath, oldPath} {
		if err := batv.WriteNewKey(p); err != nil {
			t.Fatal(err)
		}
	}
	both, err := batv.LoadKeys([]string{newPath, oldPath})
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := batv.LoadKeys([]string{newPath})
	old, _ := batv.LoadKeys([]string{oldPath})
	statePath := filepath.Join(dir, "batv.state")
	state, _ := batv.OpenState(statePath)
	state.Signed(old, time.Now().Add(-30*24*time.Hour))
	if err := state.Err(); err != nil {
		t.Fatal(err)
	}

	key := partnerDKIM(t)
	rec, err := key.Record()
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.New(t, zone)
	dns.MustAdd(t, rec)
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("inet:127.0.0.1:%d", port)
	config := filepath.Join(dir, "spoofguard.toml")
	writeConfig(t, config, map[string]string{"Listen": listen, "AuthservID": authservID, "Mode": "enforce", "DNS": dns.Addr})
	appendFile(t, config, fmt.Sprintf("\n[backscatter]\nkeys = [%q, %q]\nstate = %q\naction = \"reject\"\n", newPath, oldPath, statePath))
	postfix.StartDaemon(t, spoofguardBinary(t), config, listen)

	w := &batvWorld{partner: key, newKey: newKey, old: old, both: both}
	if useSendmail {
		w.m = sendmail.Start(t, sendmail.Config{
			Hostname: authservID,
			Domains:  []string{"example.org", "partner.example"},
			Milters:  exampleMilters(t, listen),
			Extra:    []string{readExample(t, "sendmail", "batv.mc")},
		})
		return w
	}
	w.p = postfix.Start(t, postfix.Config{
		Hostname: authservID,
		Domains:  []string{"example.org", "partner.example"},
		Milters:  []string{listen},
		Files:    map[string]string{"batv-strip.regexp": readExample(t, "postfix", "batv-strip.regexp")},
		Extra: []string{
			"non_smtpd_milters = " + listen,
			"virtual_alias_maps = regexp:$config_directory/batv-strip.regexp",
		},
	})
	w.m = w.p
	return w
}

// readExample reads a file the project ships under examples/.
func readExample(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deliveredTo is the mailbox a message was delivered to: Postfix's
// Delivered-To header; the Sendmail harness ends the file name with the
// user and files it under DOMAIN/new.
func deliveredTo(d *postfix.Delivered) string {
	if v := d.Get("Delivered-To"); v != "" {
		return v
	}
	parts := strings.SplitN(filepath.Base(d.Path), ".", 4)
	return parts[len(parts)-1] + "@" + filepath.Base(filepath.Dir(filepath.Dir(d.Path)))
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// returnPath is the envelope sender of a delivered copy, without <>.
func returnPath(d *postfix.Delivered) string {
	return strings.Trim(d.Get("Return-Path"), "<> ")
}

// TestBATVSigning: own mail leaves with a tagged envelope sender, from
// the outbound server over SMTP and (Postfix) from a web application
// through the sendmail command; signed with the key listed first. The
// bounce of it, to the address it left with, reaches the sender's
// mailbox.
func TestBATVSigning(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		w := newBATVWorld(t, useSendmail)
		id := postfix.NewMessageID("example.org")
		msg := postfix.Message{From: "Alice <alice@example.org>", To: "friend@partner.example", Subject: "hello", MessageID: id, Body: "hi\n"}
		r := w.m.Send(t, postfix.Mail{Client: outbound.ip, Helo: outbound.helo, From: "alice@example.org",
			To: []string{"friend@partner.example"}, Data: msg.Bytes()})
		if r.Stage() != postfix.StageAccepted {
			t.Fatalf("own outbound mail: %s %s", r.Stage(), r.Reply())
		}
		sent := w.m.WaitDelivered(t, id, 10*time.Second)
		w.expectSigned(t, sent, "alice@example.org")
		bounceID := postfix.NewMessageID("partner.example")
		if r := w.bounce(t, returnPath(sent), dsn(returnPath(sent), bounceID)); r.Stage() != postfix.StageAccepted {
			t.Fatalf("bounce to %s: %s %q", returnPath(sent), r.Stage(), r.Reply())
		}
		if got := deliveredTo(w.m.WaitDelivered(t, bounceID, 10*time.Second)); got != "alice@example.org" {
			t.Errorf("bounce delivered to %q, want alice@example.org", got)
		}
		if !useSendmail {
			w.sendmailCommand(t)
		}
	})
}

// sendmailCommand submits mail as a web application does, with Postfix's
// sendmail command: it reaches the daemon through non_smtpd_milters.
func (w *batvWorld) sendmailCommand(t *testing.T) {
	t.Helper()
	id := postfix.NewMessageID("example.org")
	local := postfix.Message{From: "Web form <www@example.org>", To: "friend@partner.example", Subject: "contact form", MessageID: id, Body: "a visitor wrote\n"}
	cmd := exec.Command("sendmail", "-C", w.p.ConfigDir, "-f", "www@example.org", "friend@partner.example")
	cmd.Stdin = strings.NewReader(string(local.Bytes()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	w.expectSigned(t, w.p.WaitDelivered(t, id, 20*time.Second), "www@example.org")
}

func (w *batvWorld) expectSigned(t *testing.T, d *postfix.Delivered, sender string) {
	t.Helper()
	rp := returnPath(d)
	if r := w.newKey.Verify(rp, time.Now()); r.Status != batv.Valid || r.Tag.Address != sender {
		t.Errorf("Return-Path %q: %s with the new key, want a valid tag of %s", rp, r.Status, sender)
	}
}

// bounce sends null-sender mail through the inbound relay, as a remote
// MTA's bounce reaches a back end behind its filter. It is DKIM-signed by
// partner.example, whose DMARC policy is p=reject: the other rules pass
// it, so what is refused is refused by the backscatter rule.
func (w *batvWorld) bounce(t *testing.T, to string, data []byte) postfix.Result {
	t.Helper()
	data, err := w.partner.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	hop := postfix.Hop{FromHelo: partner.helo, FromIP: partner.ip, By: relay.helo, For: to}
	return w.m.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: "", To: []string{to}, Data: hop.Relay(data)})
}

// dsn is a delivery status notification as Postfix writes one.
func dsn(to, id string) []byte {
	return []byte("From: MAILER-DAEMON@partner.example (Mail Delivery System)\r\nTo: " + to + "\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: " + id + "\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mail.partner.example.\r\n\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.partner.example\r\n\r\n" +
		"Final-Recipient: rfc822; nobody@partner.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
		"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.org\r\nTo: nobody@partner.example\r\nSubject: hello\r\n\r\n--B--\r\n")
}

// TestBATVBounces: what reaches a protected user with the null sender.
func TestBATVBounces(t *testing.T) {
	t.Parallel()
	forEachMTA(t, testBATVBounces)
}

func testBATVBounces(t *testing.T, useSendmail bool) {
	w := newBATVWorld(t, useSendmail)
	now := time.Now()
	for _, c := range []struct {
		name  string
		to    string
		data  func(to, id string) []byte
		stage string // "" delivered
	}{
		{"bounce to a tag of the new key", w.newKey.Sign("alice@example.org", now), dsn, ""},
		{"bounce to a tag of the old key (rotation)", w.old.Sign("alice@example.org", now.Add(-2*24*time.Hour)), dsn, ""},
		{"untagged bounce", "alice@example.org", dsn, postfix.StageEndData},
		{"read receipt", "alice@example.org", mdn, ""},
		{"vacation reply", "alice@example.org", vacation, ""},
		{"tag with a wrong signature", wrongSignature(w.newKey.Sign("alice@example.org", now)), dsn, postfix.StageRcpt},
		{"tag older than 7 days", w.newKey.Sign("alice@example.org", now.Add(-8*24*time.Hour)), dsn, postfix.StageRcpt},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := postfix.NewMessageID("partner.example")
			r := w.bounce(t, c.to, c.data(c.to, id))
			if c.stage != "" {
				if r.Stage() != c.stage || !strings.Contains(r.Reply(), "550 5.7.1") || !strings.Contains(r.Reply(), "not a bounce of our mail") {
					t.Fatalf("%s: %s %q, want refused at %s with 550 5.7.1\n%s", c.to, r.Stage(), r.Reply(), c.stage, r.Transcript)
				}
				return
			}
			if r.Stage() != postfix.StageAccepted {
				t.Fatalf("%s: %s %q, want delivered\n%s", c.to, r.Stage(), r.Reply(), r.Transcript)
			}
			d := w.m.WaitDelivered(t, id, 10*time.Second)
			if got := deliveredTo(d); got != "alice@example.org" {
				t.Errorf("Delivered-To %q, want the untagged mailbox alice@example.org", got)
			}
		})
	}
}

func wrongSignature(tagged string) string {
	tag, _ := batv.Parse(tagged)
	b := []byte(tag.Signature)
	if b[5] == '0' { // another hex digit in the last place
		b[5] = '1'
	} else {
		b[5] = '0'
	}
	tag.Signature = string(b)
	return tag.String()
}

// mdn is a read receipt (RFC 8098) to the author's address.
func mdn(to, id string) []byte {
	return []byte("From: Friend <friend@partner.example>\r\nTo: " + to + "\r\nSubject: Read: hello\r\nMessage-ID: " + id + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=disposition-notification; boundary=\"M\"\r\n\r\n" +
		"--M\r\nContent-Type: text/plain\r\n\r\nYour message was displayed.\r\n\r\n" +
		"--M\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;friend@partner.example\r\n" +
		"Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--M--\r\n")
}

// vacation is an automatic reply (RFC 3834) sent with the null sender.
func vacation(to, id string) []byte {
	return []byte("From: Friend <friend@partner.example>\r\nTo: " + to + "\r\nSubject: Auto: hello\r\nMessage-ID: " + id + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nAuto-Submitted: auto-replied (vacation)\r\n\r\nI am away until Monday.\r\n")
}
