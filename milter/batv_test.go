package milter

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/batv"
	"github.com/spoofguard/spoofguard/policy"
)

// batvDaemon is the daemon world with a BATV key.
func batvDaemon(t *testing.T) (*daemonWorld, *batv.Keys) {
	t.Helper()
	w := newIdleDaemonWorld(t, "")
	key := filepath.Join(t.TempDir(), "batv.key")
	if err := batv.WriteNewKey(key); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(daemonConfig, "", w.dns.Addr) +
		fmt.Sprintf("[backscatter]\nkeys = [%q]\nstate = %q\n", key, filepath.Join(t.TempDir(), "batv.state"))
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	w.start(policy.Options{})
	keys, err := batv.LoadKeys([]string{key})
	if err != nil {
		t.Fatal(err)
	}
	return w, keys
}

// sendFrom drives one transaction with the connect event given: Postfix's
// cleanup announces a local submission as "localhost", 127.0.0.1, port 0.
func sendFrom(t *testing.T, addr, host string, port uint16, ip, from string) []gomilter.ModifyAction {
	t.Helper()
	s, err := gomilter.NewClient("tcp", addr, gomilter.WithReadTimeout(10*time.Second)).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.Conn(host, gomilter.FamilyInet, port, ip) },
		func() (*gomilter.Action, error) { return s.Helo(host) },
		func() (*gomilter.Action, error) { return s.Mail(from, "") },
		func() (*gomilter.Action, error) { return s.Rcpt("friend@partner.example", "") },
		func() (*gomilter.Action, error) { return s.DataStart() },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " "+from, nil) },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
	} {
		if a, err := step(); err != nil || a.StopProcessing() {
			t.Fatalf("transaction stopped: %v %+v", err, a)
		}
	}
	mods, act, err := s.BodyReadFrom(strings.NewReader("hello\r\n"))
	if err != nil || act.Type != gomilter.ActionAccept {
		t.Fatalf("end of body: %v %+v", err, act)
	}
	return mods
}

func changedFrom(mods []gomilter.ModifyAction) string {
	for _, m := range mods {
		if m.Type == gomilter.ActionChangeFrom {
			return m.From
		}
	}
	return ""
}

// Own mail gets its envelope sender tagged through SMFIR_CHGFROM: from
// the outbound server and from a local submission (which no sender rule
// judges, whatever the sender); mail from elsewhere keeps its sender.
func TestDaemonSignsEnvelopeSender(t *testing.T) {
	w, keys := batvDaemon(t)
	addr := w.d.Addr().String()
	for _, c := range []struct {
		name, host string
		port       uint16
		ip, from   string
		signed     bool
	}{
		{"outbound server", "mail.example.org", 40000, "203.0.113.10", "alice@example.org", true},
		{"local submission", "localhost", 0, "127.0.0.1", "www-data@example.org", true},
		{"local submission as another domain", "localhost", 0, "127.0.0.1", "news@partner.example", false},
		{"internet client", "mail.partner.example", 40000, "192.0.2.30", "news@partner.example", false},
	} {
		got := strings.Trim(changedFrom(sendFrom(t, addr, c.host, c.port, c.ip, c.from)), "<>")
		if !c.signed {
			if got != "" {
				t.Errorf("%s: sender changed to %q", c.name, got)
			}
			continue
		}
		if r := keys.Verify(got, time.Now()); r.Status != batv.Valid || r.Tag.Address != c.from {
			t.Errorf("%s: sender changed to %q (%s), want a valid tag of %s", c.name, got, r.Status, c.from)
		}
	}
	var metrics bytes.Buffer
	w.d.Metrics().WriteTo(&metrics)
	for _, want := range []string{`spoofguard_batv_total{event="signed"} 2`, `spoofguard_batv_total{event="refused"} 0`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNonSMTP(t *testing.T) {
	for _, c := range []struct {
		host, family string
		port         uint16
		want         bool
	}{
		{"localhost", "tcp4", 0, true},
		{"localhost", "tcp4", 25, false},
		{"[127.0.0.1]", "tcp4", 0, false},
		{"localhost", "unknown", 0, false},
	} {
		if got := nonSMTP(c.host, c.family, c.port); got != c.want {
			t.Errorf("nonSMTP(%q, %q, %d) = %v", c.host, c.family, c.port, got)
		}
	}
}

// A forged tag is refused at RCPT TO and counted.
func TestDaemonRefusesForgedTag(t *testing.T) {
	w, keys := batvDaemon(t)
	tag, _ := batv.Parse(keys.Sign("alice@edge.example", time.Now()))
	tag.Day = (tag.Day + 1) % 1000
	valid := keys.Sign("bob@edge.example", time.Now())
	r := send(t, w.d.Addr().String(), "192.0.2.30", "mail.partner.example", "", "", []string{tag.String(), valid},
		w.message("MAILER-DAEMON@partner.example", true, ""))
	if len(r.rcpts) != 2 || !isReject(r.rcpts[0], 550) || !strings.Contains(r.rcpts[0].SMTPReply, "not a bounce of our mail") || isReject(r.rcpts[1], 550) {
		t.Fatalf("rcpt replies %+v", r.rcpts)
	}
	m := w.d.metrics
	if m.batv[batvInvalid].Load() != 1 || m.batv[batvValid].Load() != 1 || m.batv[batvRefused].Load() != 1 {
		t.Errorf("counters: invalid %d valid %d refused %d", m.batv[batvInvalid].Load(), m.batv[batvValid].Load(), m.batv[batvRefused].Load())
	}
}
