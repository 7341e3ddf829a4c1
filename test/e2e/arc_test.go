//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// The ARC test's filtering service: its inbound MX writes the Received
// header naming the original client, its filter stage (dkimpy, through
// testdata/arcfilter.py) writes its Authentication-Results as
// mx1.arcfilter.example.net, tags the subject, adds a footer and seals
// the message as arcfilter.example.net, and its outbound address
// 127.0.15.18 (this suite's block) hands it to the back end.
const (
	arcEgress   = "127.0.15.18"
	arcMX       = "mx1.arcfilter.example.net"
	arcSealer   = "arcfilter.example.net"
	arcOutsider = "seal.elsewhere.example" // a sealer the relay does not name
	saasIP      = "127.0.0.40"             // a SaaS sender signing as example.org
)

const arcRelay = `networks = ["127.0.15.16/29"]
by_names = ["*.arcfilter.example.net"]
arc_sealers = ["arcfilter.example.net"]`

// arcStage is the filter stage: dkimpy and the keys it seals with.
type arcStage struct {
	dir  string
	keys map[string]string // sealing domain → PEM file
}

// TestRelayARC: own-domain mail the SaaS sender DKIM-signed reaches the
// filter, which breaks the signature with its tag and footer, seals and
// relays it. Accepted when the seal is the relay's and intact; refused
// when the seal is broken after sealing, made by a sealer the relay does
// not name, or when the same sealed message arrives directly.
func TestRelayARC(t *testing.T) {
	w := newWorld(t, worldOptions{mode: "enforce", relay: arcRelay})
	own := w.publishedKey(t, "example.org", "saas")
	stage := newARCStage(t, w, arcSealer, arcOutsider)
	backend := w.postfix(t)

	t.Run("sealed by the relay's sealer", func(t *testing.T) {
		t.Parallel()
		id, msg := stage.filtered(t, own, arcSealer, "ok")
		r := backend.Send(t, postfix.Mail{Client: arcEgress, Helo: "out.arcfilter.example.net", From: "bounce+ok@saas.example", To: []string{rcpt}, Data: msg})
		if r.Stage() != postfix.StageAccepted {
			t.Fatalf("refused at %s: %q\ndaemon: %s", r.Stage(), r.Reply(), w.daemonLine(t, "bounce+ok@saas.example"))
		}
		d := w.mta.WaitDelivered(t, id, 15*time.Second)
		ar := strings.Join(strings.Fields(d.Get("Authentication-Results")), " ")
		for _, want := range []string{"arc=pass (i=1 sealer arcfilter.example.net", "dkim=fail", "dkim=pass (from ARC i=1 sealed by arcfilter.example.net"} {
			if !strings.Contains(ar, want) {
				t.Errorf("Authentication-Results lacks %q:\n%s", want, ar)
			}
		}
		if line := w.daemonLine(t, "bounce+ok@saas.example"); !strings.Contains(line, "arc=pass:arcfilter.example.net") ||
			!strings.Contains(line, "trusted=dkim:example.org,spf:saas.example") {
			t.Errorf("the log line does not say what the seal lent:\n%s", line)
		}
		if got := d.Get("Subject"); !strings.HasPrefix(got, "[EXT]") {
			t.Errorf("Subject %q: the filter stage did not tag it", got)
		}
	})
	refused := func(name, sealer, client, helo string, broken bool) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tag := strings.ReplaceAll(name, " ", "-")
			id, msg := stage.filtered(t, own, sealer, tag)
			if broken {
				msg = bytes.Replace(msg, []byte("scanned by the filter."), []byte("scanned by the filter, twice."), 1)
			}
			mailFrom := "bounce+" + tag + "@saas.example"
			r := backend.Send(t, postfix.Mail{Client: client, Helo: helo, From: mailFrom, To: []string{rcpt}, Data: msg})
			if r.Stage() == postfix.StageAccepted || !strings.HasPrefix(r.Reply(), "5") {
				t.Errorf("got %s %q, want a 5xx refusal", r.Stage(), r.Reply())
			}
			if d := w.mta.FindDelivered(t, id); d != nil {
				t.Errorf("delivered to %s", d.Path)
			}
		})
	}
	refused("seal broken after sealing", arcSealer, arcEgress, "out.arcfilter.example.net", true)
	refused("sealer not named by the relay", arcOutsider, arcEgress, "out.arcfilter.example.net", false)
	refused("sealed message sent directly", arcSealer, spammer.ip, spammer.helo, false)
}

// newARCStage makes a sealing key for each domain, publishes it under
// selector "arc", and checks that dkimpy is there.
func newARCStage(t *testing.T, w *world, domains ...string) *arcStage {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import dkim, authres").CombinedOutput(); err != nil {
		t.Fatalf("dkimpy is missing (run test/e2e/install.sh): %v\n%s", err, out)
	}
	s := &arcStage{dir: t.TempDir(), keys: map[string]string{}}
	for _, d := range domains {
		k := w.publishedKey(t, d, "arc")
		der := x509.MarshalPKCS1PrivateKey(k.Signer.(*rsa.PrivateKey))
		path := filepath.Join(s.dir, d+".pem")
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		s.keys[d] = path
	}
	return s
}

// filtered is a message as the filter hands it on: signed by the SaaS
// sender as example.org, received by the relay's MX from the SaaS
// sender, then tagged, footed, and sealed by sealer.
func (s *arcStage) filtered(t *testing.T, own *postfix.DKIMKey, sealer, tag string) (string, []byte) {
	t.Helper()
	id := postfix.NewMessageID("saas.example")
	msg := postfix.Message{From: "CEO <ceo@example.org>", To: rcpt, Subject: "board minutes " + tag, MessageID: id, Body: "Attached.\n"}
	signed, err := own.Sign(msg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	received := postfix.Hop{FromHelo: "mail.saas.example", FromIP: saasIP, By: arcMX, For: rcpt}.Relay(signed)
	cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "arcfilter.py"), "seal",
		"--key", s.keys[sealer], "--domain", sealer, "--selector", "arc", "--srv-id", arcMX,
		"--results", "dkim=pass header.d=example.org header.s=saas; spf=pass smtp.mailfrom=bounce@saas.example")
	cmd.Stdin = bytes.NewReader(bytes.ReplaceAll(bytes.ReplaceAll(received, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("arcfilter.py: %v\n%s", err, stderr.String())
	}
	return id, out
}

// publishedKey makes an RSA-2048 key for domain and publishes it in the
// world's DNS under selector.
func (w *world) publishedKey(t *testing.T, domain, selector string) *postfix.DKIMKey {
	t.Helper()
	k, err := postfix.NewRSAKey(domain, selector, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := k.Record()
	if err != nil {
		t.Fatal(err)
	}
	w.dns.MustAdd(t, rec)
	return k
}
