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
	"strconv"
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
	arcIngress  = "127.0.15.17" // the Postfix of the pipeline case
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
	t.Run("through a Postfix content filter", func(t *testing.T) {
		t.Parallel()
		filter := stage.startPipeline(t, backend)
		id := postfix.NewMessageID("saas.example")
		msg := postfix.Message{From: "CEO <ceo@example.org>", To: rcpt, Subject: "board minutes", MessageID: id, Body: "Attached.\n"}
		signed, err := own.Sign(msg.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		r := filter.Send(t, postfix.Mail{Client: saasIP, Helo: "mail.saas.example", From: "bounce+pipe@saas.example", To: []string{rcpt}, Data: signed})
		if r.Stage() != postfix.StageAccepted {
			t.Fatalf("the filter refused the message at %s: %q", r.Stage(), r.Reply())
		}
		d := w.mta.WaitDelivered(t, id, 30*time.Second)
		if ar := strings.Join(strings.Fields(d.Get("Authentication-Results")), " "); !strings.Contains(ar, "arc=pass (i=1 sealer arcfilter.example.net") {
			t.Errorf("Authentication-Results: %s", ar)
		}
		if line := w.daemonLine(t, "bounce+pipe@saas.example"); !strings.Contains(line, "origin="+saasIP) || !strings.Contains(line, "trusted=dkim:example.org") {
			t.Errorf("spoofguard's line: %s", line)
		}
	})
	refused("seal broken after sealing", arcSealer, arcEgress, "out.arcfilter.example.net", true)
	refused("sealer not named by the relay", arcOutsider, arcEgress, "out.arcfilter.example.net", false)
	refused("sealed message sent directly", arcSealer, spammer.ip, spammer.helo, false)
}

// startPipeline runs the filter stage inside a real Postfix on
// 127.0.15.17: content_filter hands each message to arcfilter.py through
// a pipe (as user nobody), which seals it and gives it back over SMTP to a
// second smtpd of the same instance; Postfix then relays it to the back
// end. The back end sees two Received headers of the filter: the
// reinjection on top (its own address) and the one naming the client.
func (s *arcStage) startPipeline(t *testing.T, backend *postfix.Instance) *postfix.Instance {
	t.Helper()
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	reinject := arcIngress + ":" + strconv.Itoa(port)
	results := filepath.Join(s.dir, "results")
	if err := os.WriteFile(results, []byte("dkim=pass header.d=example.org header.s=saas; spf=pass smtp.mailfrom=bounce@saas.example"), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "arcfilter.py"))
	if err != nil {
		t.Fatal(err)
	}
	argv := strings.Join([]string{"/usr/bin/python3", script, "pipe", "--key", s.keys[arcSealer], "--domain", arcSealer,
		"--selector", "arc", "--srv-id", arcMX, "--results-file", results, "--reinject", reinject, "--source", arcIngress,
		"${sender}", "${recipient}"}, " ")
	return postfix.Start(t, postfix.Config{
		Hostname: arcMX,
		Address:  arcIngress,
		Domains:  []string{"filter.invalid"},
		Extra: []string{
			"relay_domains = example.org",
			"transport_maps = inline:{ example.org=smtp:[" + strings.Replace(backend.Addr, ":", "]:", 1) + " }",
			"smtp_bind_address = " + arcIngress,
			"content_filter = arcseal:dummy",
		},
		Master: []string{
			"arcseal unix - n n - 2 pipe user=nobody argv=" + argv,
			reinject + " inet n - n - - smtpd -o content_filter= -o smtpd_milters=",
		},
	})
}

// newARCStage makes a sealing key for each domain, publishes it under
// selector "arc", and checks that dkimpy is there.
func newARCStage(t *testing.T, w *world, domains ...string) *arcStage {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import dkim, authres").CombinedOutput(); err != nil {
		t.Fatalf("dkimpy is missing (run test/e2e/install.sh): %v\n%s", err, out)
	}
	// The pipeline's filter runs as nobody: the folder must be open to it.
	dir, err := os.MkdirTemp("", "spoofguard-arc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &arcStage{dir: dir, keys: map[string]string{}}
	for _, d := range domains {
		k := w.publishedKey(t, d, "arc")
		der := x509.MarshalPKCS1PrivateKey(k.Signer.(*rsa.PrivateKey))
		path := filepath.Join(s.dir, d+".pem")
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o644); err != nil {
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
