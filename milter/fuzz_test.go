package milter

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/policy"
)

// fuzzClients are the SMTP clients a FuzzSession input picks from by
// number: a spammer, the filtering relay, a partner, the own outbound
// server, a local one, and an IPv6 spammer using an own HELO name.
var fuzzClients = []struct{ ip, helo string }{
	{"192.0.2.66", "spam.spammer.example"},
	{"198.51.100.5", "filter.example.org"},
	{"192.0.2.30", "mail.partner.example"},
	{"203.0.113.10", "out.example.org"},
	{"127.0.0.1", "localhost"},
	{"2001:db8::66", "mail.example.org"},
}

// FuzzSession sends each input through the real daemon over its socket,
// one milter connection per input, as Postfix would: the header block cut
// into fields, the body with CRLF line ends. The daemon must answer every
// event, end in a decided verdict, and agree with Engine.Run — the
// `spoofguard check` path — on the same input. A socket per input costs
// well under a millisecond here, so the whole protocol path is fuzzed,
// not only the session's methods.
func FuzzSession(f *testing.F) {
	w := newHostileDaemon(f, "", "")
	addr := w.d.Addr().String()
	for _, s := range hostileMessages(f, w) {
		if len(s.msg) <= maxFuzzMessage {
			f.Add([]byte(s.msg), s.client, s.mailFrom, s.rcpt)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, client uint8, mailFrom, rcpt string) {
		if len(msg) > maxFuzzMessage || len(mailFrom) > 4096 || len(rcpt) > 4096 {
			return
		}
		c := fuzzClients[int(client)%len(fuzzClients)]
		auth := ""
		if client&0x80 != 0 {
			auth = "alice"
		}
		rcpts := strings.Split(rcpt, ",")
		fields, body := mtaSplit(msg)
		start := time.Now()
		got := sendFields(t, addr, c.ip, c.helo, auth, cString(mailFrom), cStrings(rcpts), fields, body)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
		checkMTAResult(t, got)
		if strings.ContainsRune(string(msg)+mailFrom+rcpt, 0) {
			return // the MTA cuts C strings at NUL, the check path does not
		}
		want := checkPath(t, w, c.ip, c.helo, auth, mailFrom, rcpts, msg)
		if got.summary() != want {
			t.Fatalf("daemon says %s, check path says %s", got.summary(), want)
		}
	})
}

// maxFuzzMessage bounds the messages fuzzed: size limits have their own
// tests, and the fuzzer learns nothing from mutating 200 KB inputs but
// spends its time minimising them.
const maxFuzzMessage = 32 << 10

// field is one header field as the MTA passes it to a milter.
type field struct{ name, value string }

// mtaSplit cuts a message the way an MTA does before it talks to a
// milter, and the way Engine.Run reads a saved message: header fields
// (their values with the leading space and folding, the final line break
// removed) until an empty line or a line that is not a field; the rest is
// the body, with bare LF turned into CRLF.
func mtaSplit(msg []byte) ([]field, []byte) {
	var fields []field
	rest := msg
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			rest = rest[len(line):]
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].value += string(line)
			rest = rest[len(line):]
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			break
		}
		fields = append(fields, field{string(line[:i]), string(line[i+1:])})
		rest = rest[len(line):]
	}
	for i := range fields {
		fields[i].name = cString(fields[i].name)
		fields[i].value = cString(strings.TrimRight(fields[i].value, "\r\n"))
	}
	return fields, crlf(rest)
}

func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/16)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// cString is what survives of s in the milter protocol's C strings.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func cStrings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = cString(s)
	}
	return out
}

// sendFields is send with the header fields already cut.
func sendFields(t testing.TB, addr, ip, helo, auth, from string, rcpts []string, fields []field, body []byte) mtaResult {
	t.Helper()
	s, err := gomilter.NewClient("tcp", addr, gomilter.WithReadTimeout(15*time.Second)).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return sendParts(t, s, ip, helo, auth, from, rcpts, fields, body)
}

// sendParts drives one transaction like sendOn, from fields and body.
func sendParts(t testing.TB, s *gomilter.ClientSession, ip, helo, auth, from string, rcpts []string, fields []field, body []byte) mtaResult {
	t.Helper()
	must := func(a *gomilter.Action, err error) *gomilter.Action {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	macros := gomilter.NewMacroBag()
	if err := s.Reset(macros); err != nil {
		t.Fatal(err)
	}
	family := gomilter.FamilyInet
	if strings.Contains(ip, ":") {
		family = gomilter.FamilyInet6
	}
	must(s.Conn(helo, family, 40000, ip))
	must(s.Helo(helo))
	macros.Set(gomilter.MacroQueueId, "4QUEUEID")
	if auth != "" {
		macros.Set(gomilter.MacroAuthAuthen, auth)
	}
	if a := must(s.Mail(from, "")); a.StopProcessing() {
		return mtaResult{stage: "mail", act: a}
	}
	var res mtaResult
	accepted := 0
	for _, r := range rcpts {
		a := must(s.Rcpt(r, ""))
		res.rcpts = append(res.rcpts, a)
		if a.Type == gomilter.ActionContinue || a.Type == gomilter.ActionAccept {
			accepted++
		}
	}
	if accepted == 0 {
		res.stage = "rcpt"
		if err := s.Abort(nil); err != nil {
			t.Fatal(err)
		}
		return res
	}
	must(s.DataStart())
	for _, f := range fields {
		must(s.HeaderField(f.name, f.value, nil))
	}
	if a := must(s.HeaderEnd()); a.StopProcessing() {
		res.stage, res.act = "eoh", a
		return res
	}
	if len(body) == 0 {
		// go-milter's client cannot send end-of-body without a body
		// chunk before it; an empty chunk stands in for the empty body.
		if a := must(s.BodyChunk(nil)); a.StopProcessing() {
			t.Fatalf("empty body chunk answered %+v", a)
		}
		mods, a, err := s.End()
		if err != nil {
			t.Fatal(err)
		}
		res.stage, res.act, res.mods = "eom", a, mods
		return res
	}
	mods, a, err := s.BodyReadFrom(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.stage, res.act, res.mods = "eom", a, mods
	return res
}

// checkMTAResult asserts that the daemon's answer is one the MTA can act
// on: a reject or tempfail reply with its code where the transaction
// ended early, an accept (possibly held) with our headers at the end.
func checkMTAResult(t *testing.T, r mtaResult) {
	t.Helper()
	decided := func(a *gomilter.Action) {
		t.Helper()
		if a == nil || a.Type != gomilter.ActionRejectWithCode || (a.SMTPCode != 550 && a.SMTPCode != 451) {
			t.Fatalf("stage %s ended with %+v, want a 550 or 451 reply", r.stage, a)
		}
	}
	switch r.stage {
	case "mail", "eoh":
		decided(r.act)
	case "rcpt":
		for _, a := range r.rcpts {
			decided(a)
		}
	case "eom":
		if r.act.Type == gomilter.ActionAccept {
			if len(r.header("Authentication-Results")) != 1 || len(r.header("X-Spoofguard")) != 1 {
				t.Fatalf("accepted without our headers: %+v", r.mods)
			}
			return
		}
		decided(r.act)
	default:
		t.Fatalf("unknown stage %q", r.stage)
	}
}

// summary is the MTA's view in a few words: where the transaction ended
// and how.
func (r mtaResult) summary() string {
	switch {
	case r.stage == "rcpt":
		return "rcpt refused"
	case r.stage == "eom" && r.act.Type == gomilter.ActionAccept && r.quarantined():
		return "eom quarantine"
	case r.stage == "eom" && r.act.Type == gomilter.ActionAccept:
		return "eom accept"
	}
	return r.stage + " " + codeWord(int(r.act.SMTPCode))
}

func codeWord(code int) string {
	switch code {
	case 550:
		return "reject"
	case 451:
		return "tempfail"
	}
	return fmt.Sprintf("code %d", code)
}

// checkPath runs the same input through Engine.Run with the daemon's
// engine and says what the MTA would have seen, in summary's words.
func checkPath(t *testing.T, w *daemonWorld, ip, helo, auth, mailFrom string, rcpts []string, msg []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, stage, err := w.d.current().engine.Run(ctx, policy.Transaction{
		Client:   policy.Client{IP: netip.MustParseAddr(ip), Helo: helo},
		MailFrom: mailFrom, AuthUser: auth, Rcpts: rcpts, Message: bytes.NewReader(msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	v := m.Verdict().Effective()
	switch stage {
	case policy.StageMailFrom:
		return "mail " + string(v)
	case policy.StageRcpt:
		return "rcpt refused"
	case policy.StageHeaders:
		return "eoh " + string(v)
	}
	return "eom " + string(v)
}
