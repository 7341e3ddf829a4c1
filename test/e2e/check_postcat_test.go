//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// TestCheckPostcat: a message the daemon put on hold, read back from the
// hold queue with `postcat -q QUEUEID | spoofguard check -`, gets the
// verdict the daemon gave it, judged on the envelope Postfix recorded.
func TestCheckPostcat(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "enforce"})
	s := quarantinePartnerRelayed
	id := postfix.NewMessageID(domainOf(s.from))
	hop := postfix.Hop{FromHelo: s.origin.helo, FromIP: s.origin.ip, By: relay.helo, For: rcpt}
	r := w.mta.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: s.mailFrom,
		To: []string{rcpt}, Data: hop.Relay(w.message(t, s, id))})
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("refused at %s: %q", r.Stage(), r.Reply())
	}
	pf := w.postfix(t)
	e := pf.WaitHeld(t, id, 15*time.Second)

	conf := filepath.Join(t.TempDir(), "spoofguard.toml")
	writeConfig(t, conf, map[string]string{
		"Listen": "inet:127.0.0.1:0", "AuthservID": authservID, "Mode": "enforce", "DNS": w.dns.Addr,
	})
	queued, err := exec.Command("postcat", "-c", pf.ConfigDir, "-q", e.QueueID).Output()
	if err != nil {
		t.Fatalf("postcat: %v", err)
	}
	check := exec.Command(spoofguardBinary(t), "check", "-config", conf, "--json", "-")
	check.Stdin = bytes.NewReader(queued)
	out, err := check.Output()
	if err != nil {
		t.Fatalf("check -: %v\n%s", err, out)
	}
	var got struct {
		Verdict, Rule string
		Inputs        struct {
			ClientIP struct{ Value, Source string } `json:"client_ip"`
			MailFrom struct{ Value string }         `json:"mail_from"`
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Verdict != "quarantine" || got.Rule != "dmarc" || got.Inputs.ClientIP.Value != relay.ip || !strings.Contains(got.Inputs.ClientIP.Source, "postcat") ||
		got.Inputs.MailFrom.Value != s.mailFrom {
		t.Errorf("check - of the held message: %+v, want quarantine by dmarc from %s\n%s", got, relay.ip, out)
	}
}
