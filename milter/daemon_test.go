package milter

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/dnsauth/authres"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
)

// The world the daemon tests run in: example.org is protected behind the
// relay "filter" (198.51.100.0/24); edge.example is protected without a
// relay; partner.example publishes p=quarantine and signs with DKIM.
const daemonZone = `
example.org. IN TXT "v=spf1 ip4:203.0.113.10 -all"
_dmarc.example.org. IN TXT "v=DMARC1; p=none"
edge.example. IN TXT "v=spf1 ip4:203.0.113.10 -all"
partner.example. IN TXT "v=spf1 ip4:192.0.2.30 -all"
_dmarc.partner.example. IN TXT "v=DMARC1; p=quarantine"
spammer.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
`

const daemonConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.example.org"
%s
[log]
format = "json"
[dns]
servers = ["%s"]
timeout = "500ms"
[networks]
outbound = ["203.0.113.10"]
[[relay]]
name = "filter"
networks = ["198.51.100.0/24"]
[[domain]]
name = "example.org"
via = "filter"
[[domain]]
name = "edge.example"
`

type daemonWorld struct {
	t       testing.TB
	dns     *dnstest.Server
	key     ed25519.PrivateKey
	cfgPath string
	d       *Daemon
	logs    *syncBuffer
}

func newDaemonWorld(t testing.TB, milterLines string) *daemonWorld {
	t.Helper()
	w := newIdleDaemonWorld(t, milterLines)
	w.start(policy.Options{})
	return w
}

// newIdleDaemonWorld is the world with its configuration written and the
// daemon not started yet.
func newIdleDaemonWorld(t testing.TB, milterLines string) *daemonWorld {
	t.Helper()
	w := &daemonWorld{t: t, dns: dnstest.New(t, daemonZone), logs: &syncBuffer{}}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w.key = priv
	w.dns.MustAdd(t, `sel._domainkey.partner.example. IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
	w.cfgPath = filepath.Join(t.TempDir(), "spoofguard.toml")
	w.writeConfig(milterLines)
	return w
}

// start runs the daemon on w.cfgPath until the test ends.
func (w *daemonWorld) start(opts policy.Options) {
	w.t.Helper()
	w.startWith(Options{EngineOptions: opts})
}

// startWith is start with more of the daemon's options.
func (w *daemonWorld) startWith(o Options) {
	w.t.Helper()
	o.ConfigPath = w.cfgPath
	if o.LogOutput == nil {
		o.LogOutput = w.logs
	}
	d, err := New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.d = d
	w.t.Cleanup(func() {
		d.srv.Close()
		d.current().engine.Close()
	})
}

func (w *daemonWorld) writeConfig(milterLines string) {
	w.t.Helper()
	if err := os.WriteFile(w.cfgPath, []byte(fmt.Sprintf(daemonConfig, milterLines, w.dns.Addr)), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// message builds a CRLF message, DKIM-signed by partner.example when sign
// is set, with the relay's trace header naming origin ("helo ip") on top
// when origin is set, and extra header lines first.
func (w *daemonWorld) message(from string, sign bool, origin string, extra ...string) string {
	var b strings.Builder
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: user@example.org\r\nSubject: hello\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m@test>\r\n\r\nBody line.\r\n", from)
	msg := b.String()
	if sign {
		var out bytes.Buffer
		if err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: "partner.example", Selector: "sel", Signer: w.key}); err != nil {
			w.t.Fatal(err)
		}
		msg = out.String()
	}
	if origin != "" {
		helo, ip, _ := strings.Cut(origin, " ")
		msg = fmt.Sprintf("Received: from %s (%s [%s])\r\n\tby filter.example.org (Postfix) with ESMTPS id 4XYZ\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000\r\n", helo, helo, ip) + msg
	}
	return msg
}

// mtaResult is what the MTA side saw of one transaction.
type mtaResult struct {
	stage string // where the transaction ended: "mail", "rcpt", "eoh", "eom"
	act   *gomilter.Action
	rcpts []*gomilter.Action
	mods  []gomilter.ModifyAction
}

func (r mtaResult) header(name string) []string {
	var out []string
	for _, m := range r.mods {
		if m.Type == gomilter.ActionInsertHeader && strings.EqualFold(m.HeaderName, name) {
			out = append(out, m.HeaderValue)
		}
	}
	return out
}

func (r mtaResult) quarantined() bool {
	for _, m := range r.mods {
		if m.Type == gomilter.ActionQuarantine {
			return true
		}
	}
	return false
}

// send drives one SMTP transaction through the daemon over its socket, as
// Postfix would, on a new milter connection.
func send(t testing.TB, addr string, ip, helo, auth, from string, rcpts []string, msg string) mtaResult {
	t.Helper()
	fields, body := mtaSplit([]byte(msg))
	return sendFields(t, addr, ip, helo, auth, from, rcpts, fields, body)
}

// sendOn is send on a milter connection the test holds.
func sendOn(t testing.TB, s *gomilter.ClientSession, ip, helo, auth, from string, rcpts []string, msg string) mtaResult {
	t.Helper()
	fields, body := mtaSplit([]byte(msg))
	return sendParts(t, s, ip, helo, auth, from, rcpts, fields, body)
}

func isReject(a *gomilter.Action, code uint16) bool {
	return a != nil && a.Type == gomilter.ActionRejectWithCode && a.SMTPCode == code
}

func TestDaemonStagedVerdicts(t *testing.T) {
	w := newDaemonWorld(t, "")
	addr := w.d.Addr().String()
	spam := w.message("CEO <ceo@example.org>", false, "")

	t.Run("envelope forgery at MAIL FROM", func(t *testing.T) {
		r := send(t, addr, "192.0.2.66", "spam.example", "", "ceo@edge.example", []string{"user@edge.example"}, spam)
		if r.stage != "mail" || !isReject(r.act, 550) || !strings.Contains(r.act.SMTPReply, "5.7.1") {
			t.Errorf("got %s %v", r.stage, r.act)
		}
	})
	t.Run("direct delivery per recipient at RCPT TO", func(t *testing.T) {
		r := send(t, addr, "192.0.2.66", "spam.example", "", "x@spammer.example", []string{"user@example.org", "user@edge.example"},
			w.message("x@spammer.example", false, ""))
		if len(r.rcpts) != 2 || !isReject(r.rcpts[0], 550) || !strings.Contains(r.rcpts[0].SMTPReply, "example.org accepts mail only through its MX") {
			t.Fatalf("first recipient: %v", r.rcpts)
		}
		if r.rcpts[1].Type != gomilter.ActionContinue || r.stage != "eom" || r.act.Type != gomilter.ActionAccept {
			t.Errorf("second recipient %v, end %s %v", r.rcpts[1], r.stage, r.act)
		}
	})
	t.Run("header forgery at end of headers", func(t *testing.T) {
		r := send(t, addr, "198.51.100.5", "filter.example.org", "", "x@spammer.example", []string{"user@example.org"},
			w.message("CEO <ceo@example.org>", false, "spam.spammer.example 192.0.2.66"))
		if r.stage != "eoh" || !isReject(r.act, 550) {
			t.Errorf("got %s %v", r.stage, r.act)
		}
	})
	t.Run("partner mail through the relay: headers rewritten", func(t *testing.T) {
		forged := "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=partner.example; dmarc=pass"
		foreign := "Authentication-Results: other.example; spf=fail"
		r := send(t, addr, "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"},
			w.message("alice@partner.example", true, "mail.partner.example 192.0.2.30", forged, foreign, forged))
		if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || r.quarantined() {
			t.Fatalf("got %s %v quarantined=%v", r.stage, r.act, r.quarantined())
		}
		ar := r.header("Authentication-Results")
		if len(ar) != 1 || authres.AuthservID(ar[0]) != "mx.example.org" || !strings.Contains(ar[0], "dkim=pass") ||
			!strings.Contains(ar[0], "spf=pass") || !strings.Contains(ar[0], "dmarc=pass") {
			t.Errorf("Authentication-Results = %q", ar)
		}
		if v := r.header("X-Spoofguard"); len(v) != 1 || !strings.Contains(v[0], "accept") {
			t.Errorf("verdict header = %q", v)
		}
		var deleted []int
		for _, m := range r.mods {
			if m.Type == gomilter.ActionChangeHeader && m.HeaderName == "Authentication-Results" && m.HeaderValue == "" {
				deleted = append(deleted, int(m.HeaderIndex))
			}
		}
		// The forged headers are the 1st and 3rd A-R fields; deleted from the last.
		if fmt.Sprint(deleted) != "[3 1]" {
			t.Errorf("deleted A-R indexes %v, want [3 1]; mods %v", deleted, r.mods)
		}
	})
	t.Run("DMARC quarantine at end of body", func(t *testing.T) {
		r := send(t, addr, "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"},
			w.message("alice@partner.example", false, "spam.spammer.example 192.0.2.66"))
		if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || !r.quarantined() {
			t.Errorf("got %s %v quarantined=%v", r.stage, r.act, r.quarantined())
		}
	})
	t.Run("own outbound and authenticated users", func(t *testing.T) {
		for _, c := range []struct{ ip, auth string }{{"203.0.113.10", ""}, {"192.0.2.99", "alice"}} {
			r := send(t, addr, c.ip, "out.example.org", c.auth, "boss@example.org", []string{"user@example.org"}, w.message("boss@example.org", false, ""))
			if r.stage != "eom" || r.act.Type != gomilter.ActionAccept {
				t.Errorf("%v: got %s %v", c, r.stage, r.act)
			}
		}
	})

	// One log line per transaction, JSON, with the facts an administrator
	// needs.
	var lines int
	for _, line := range strings.Split(w.logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"message"`) {
			continue
		}
		lines++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		for _, k := range []string{"queue", "client", "class", "from", "rcpt", "verdict", "duration"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line lacks %q: %s", k, line)
			}
		}
	}
	if lines != 7 {
		t.Errorf("%d message log lines for 7 transactions:\n%s", lines, w.logs.String())
	}

	var metrics bytes.Buffer
	w.d.Metrics().WriteTo(&metrics)
	for _, want := range []string{
		`spoofguard_messages_total{action="reject",report_only="false",rule="envelope-forgery"} 1`,
		`spoofguard_messages_total{action="reject",report_only="false",rule="header-forgery"} 1`,
		`spoofguard_messages_total{action="quarantine",report_only="false",rule="dmarc"} 1`,
		`spoofguard_recipients_refused_total{action="reject",report_only="false",rule="direct-delivery"} 1`,
		`spoofguard_stage_duration_seconds_count{stage="body"}`,
		`spoofguard_dns_cache_hits_total`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics.String())
		}
	}
}

func TestDaemonReportOnly(t *testing.T) {
	w := newDaemonWorld(t, `mode = "report-only"`)
	r := send(t, w.d.Addr().String(), "192.0.2.66", "spam.example", "", "ceo@edge.example", []string{"user@example.org"},
		w.message("CEO <ceo@example.org>", false, ""))
	if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || r.quarantined() {
		t.Fatalf("got %s %v", r.stage, r.act)
	}
	v := r.header("X-Spoofguard")
	if len(v) != 1 || !strings.Contains(v[0], "reject") || !strings.Contains(v[0], "report-only") {
		t.Errorf("verdict header = %q", v)
	}
}

func TestDaemonReload(t *testing.T) {
	w := newDaemonWorld(t, "")
	addr := w.d.Addr().String()
	spam := w.message("CEO <ceo@example.org>", false, "")
	enforced := func() bool {
		r := send(t, addr, "192.0.2.66", "spam.example", "", "ceo@edge.example", []string{"user@edge.example"}, spam)
		return r.stage == "mail" && isReject(r.act, 550)
	}
	if !enforced() {
		t.Fatal("not enforcing before reload")
	}

	// A transaction in progress keeps the engine it started with.
	s, err := gomilter.NewClient("tcp", addr).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Conn("spam.example", gomilter.FamilyInet, 1, "192.0.2.66")
	s.Helo("spam.example")
	if a, _ := s.Mail("x@spammer.example", ""); a.StopProcessing() {
		t.Fatal("unexpected stop")
	}

	w.writeConfig(`mode = "report-only"`)
	if err := w.d.Reload(); err != nil {
		t.Fatalf("good file refused: %v", err)
	}
	if enforced() {
		t.Error("still enforcing after reloading a report-only file")
	}
	if a, err := s.Rcpt("user@example.org", ""); err != nil || !isReject(a, 550) {
		t.Errorf("transaction started before the reload: RCPT %v %v, want the old engine's reject", a, err)
	}

	os.WriteFile(w.cfgPath, []byte("[milter]\nmode = \"sometimes\"\n[dns]\ntimeout = \"2x\"\n"), 0o644)
	err = w.d.Reload()
	if err == nil || !strings.Contains(err.Error(), "milter.mode") {
		t.Errorf("bad file: err = %v", err)
	}
	if enforced() {
		t.Error("a refused reload changed the running configuration")
	}
	if !strings.Contains(w.logs.String(), "configuration reload refused") {
		t.Error("refused reload not logged")
	}
	var m bytes.Buffer
	w.d.Metrics().WriteTo(&m)
	if !strings.Contains(m.String(), `spoofguard_config_reloads_total{result="ok"} 1`) ||
		!strings.Contains(m.String(), `spoofguard_config_reloads_total{result="failed"} 1`) {
		t.Errorf("reload metrics:\n%s", m.String())
	}
}

func TestDaemonShutdownDrainsSessions(t *testing.T) {
	w := newDaemonWorld(t, "")
	addr := w.d.Addr().String()
	s, err := gomilter.NewClient("tcp", addr).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := w.message("alice@partner.example", true, "mail.partner.example 192.0.2.30")
	s.Conn("filter.example.org", gomilter.FamilyInet, 1, "198.51.100.5")
	s.Helo("filter.example.org")
	s.Mail("alice@partner.example", "")
	s.Rcpt("user@example.org", "")

	done := make(chan struct{})
	go func() {
		w.d.Shutdown()
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections while shutting down")
	}
	select {
	case <-done:
		t.Fatal("shutdown did not wait for the session in progress")
	default:
	}
	// The transaction in progress completes normally.
	s.DataStart()
	fields, body := mtaSplit([]byte(msg))
	for _, f := range fields {
		s.HeaderField(f.name, f.value, nil)
	}
	s.HeaderEnd()
	_, act, err := s.BodyReadFrom(bytes.NewReader(body))
	if err != nil || act.Type != gomilter.ActionAccept {
		t.Fatalf("message during shutdown: %v %v", act, err)
	}
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not finish after the last session closed")
	}
}

func TestDaemonShutdownIsBounded(t *testing.T) {
	w := newDaemonWorld(t, `drain_timeout = "300ms"`)
	s, err := gomilter.NewClient("tcp", w.d.Addr().String()).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Conn("x", gomilter.FamilyInet, 1, "192.0.2.1")
	start := time.Now()
	w.d.Shutdown()
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("shutdown with an idle session took %v, want about the 300ms drain bound", d)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
