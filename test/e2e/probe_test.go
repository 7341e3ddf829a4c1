//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// probe is a milter that only records what the MTA tells it: the
// negotiation, the connect and MAIL FROM arguments with the macros of
// each stage, and every header as it arrives. It answers continue to
// everything, so the message is delivered.
type probe struct {
	mu     sync.Mutex
	offer  string
	events []string
}

// probeMacros are asked for at every stage, to see where each is set.
var probeMacros = []gomilter.MacroName{gomilter.MacroQueueId, gomilter.MacroMTAFQDN, gomilter.MacroRFC1413AuthInfo,
	gomilter.MacroDaemonName, gomilter.MacroClientAddr, gomilter.MacroAuthAuthen, gomilter.MacroMTAVersion}

func (p *probe) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, fmt.Sprintf(format, args...))
}

func (p *probe) macros(stage string, m gomilter.Modifier) {
	var b strings.Builder
	for _, name := range probeMacros {
		if v, ok := m.GetEx(name); ok {
			fmt.Fprintf(&b, " %s=%q", name, v)
		}
	}
	p.note("macros at %s:%s", stage, b.String())
}

// Log is everything recorded, one event a line.
func (p *probe) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offer + "\n" + strings.Join(p.events, "\n")
}

// headerNames are the names of the headers seen, in order.
func (p *probe) headerNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for _, e := range p.events {
		if rest, ok := strings.CutPrefix(e, "header "); ok {
			var name string
			fmt.Sscanf(rest, "%q", &name)
			names = append(names, name)
		}
	}
	return names
}

type probeMilter struct {
	gomilter.NoOpMilter
	p *probe
}

func (m *probeMilter) Connect(host, family string, port uint16, addr string, mod gomilter.Modifier) (*gomilter.Response, error) {
	m.p.note("connect host=%q family=%q addr=%q", host, family, addr)
	m.p.macros("connect", mod)
	return gomilter.RespContinue, nil
}

func (m *probeMilter) MailFrom(from, _ string, mod gomilter.Modifier) (*gomilter.Response, error) {
	m.p.macros("MAIL FROM", mod)
	return gomilter.RespContinue, nil
}

func (m *probeMilter) RcptTo(rcpt, _ string, mod gomilter.Modifier) (*gomilter.Response, error) {
	m.p.macros("RCPT TO", mod)
	return gomilter.RespContinue, nil
}

func (m *probeMilter) Header(name, value string, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.p.note("header %q %q", name, value)
	return gomilter.RespContinue, nil
}

func (m *probeMilter) Headers(mod gomilter.Modifier) (*gomilter.Response, error) {
	m.p.macros("end of headers", mod)
	return gomilter.RespContinue, nil
}

func (m *probeMilter) EndOfMessage(mod gomilter.Modifier) (*gomilter.Response, error) {
	m.p.macros("end of body", mod)
	return gomilter.RespAccept, nil
}

// startProbe serves a probe on a free port of 127.0.0.1 until the test
// ends, and returns it with its address in Postfix's syntax.
func startProbe(t *testing.T) (*probe, string) {
	t.Helper()
	p := &probe{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var requests []gomilter.Option
	for _, st := range []gomilter.MacroStage{gomilter.StageConnect, gomilter.StageMail, gomilter.StageRcpt, gomilter.StageEOH, gomilter.StageEOM} {
		requests = append(requests, gomilter.WithMacroRequest(st, probeMacros))
	}
	srv := gomilter.NewServer(append(requests,
		gomilter.WithMilter(func() gomilter.Milter { return &probeMilter{p: p} }),
		gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeHeader|gomilter.OptQuarantine),
		gomilter.WithProtocols(gomilter.OptHeaderLeadingSpace),
		gomilter.WithNegotiationCallback(func(mtaVersion, milterVersion uint32, mtaActions, milterActions gomilter.OptAction,
			mtaProtocol, milterProtocol gomilter.OptProtocol, offered gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
			p.mu.Lock()
			p.offer = fmt.Sprintf("MTA offers milter protocol version %d, actions %v, protocol %v", mtaVersion, mtaActions, mtaProtocol)
			p.mu.Unlock()
			return min(mtaVersion, milterVersion), milterActions & mtaActions, milterProtocol & mtaProtocol, offered, nil
		}),
	)...)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p, "inet:" + ln.Addr().String()
}

// TestMilterInput records what each MTA hands a milter for mail from the
// filtering relay whose From header is written with a space before the
// colon ("From : ..."), which RFC 5322's obsolete syntax allows (§4.5.3,
// obs-optional), and logs it: the name such a field arrives with, where
// the MTA's own Received header is, and which macros are set when.
func TestMilterInput(t *testing.T) {
	t.Parallel()
	for _, useSendmail := range []bool{false, true} {
		name := map[bool]string{false: "postfix", true: "sendmail"}[useSendmail]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, listen := startProbe(t)
			m := startMTA(t, useSendmail, listen)
			id := postfix.NewMessageID("spammer.example")
			hop := postfix.Hop{FromHelo: spammer.helo, FromIP: spammer.ip, By: relay.helo, For: rcpt}
			r := m.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: "bounce@spammer.example",
				To: []string{rcpt}, Data: hop.Relay(spaceBeforeColon(ceoMessage(id)))})
			if r.Stage() != postfix.StageAccepted {
				t.Fatalf("not accepted: %s %q\n%s", r.Stage(), r.Reply(), r.Transcript)
			}
			m.WaitDelivered(t, id, 15*time.Second)
			t.Logf("what %s told the milter:\n%s", name, p.Log())
			checkMilterInput(t, p, useSendmail)
		})
	}
}

// checkMilterInput asserts what spoofguard relies on: the forged From
// arrives as a header named "From" once surrounding white space is
// trimmed; the first Received header the milter sees is the relay's
// (neither Postfix 3.7 nor Sendmail 8.17 passes its own header for the
// current hop); the queue id is set at end of body.
func checkMilterInput(t *testing.T, p *probe, useSendmail bool) {
	t.Helper()
	names := p.headerNames()
	var from []string
	for _, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), "From") {
			from = append(from, n)
		}
	}
	t.Logf("the field written %q reached the milter named %q", "From : ", from)
	if len(from) != 1 {
		t.Errorf("headers %q: want one From", names)
	}
	log := p.Log()
	if first := strings.Index(log, "header \"Received\""); first < 0 || !strings.HasPrefix(log[first:], "header \"Received\" \" from "+spammer.helo) {
		t.Errorf("the first Received header the milter saw is not the relay's (naming %s)", spammer.ip)
	}
	if !strings.Contains(log, "macros at end of body: i=") {
		t.Error("no queue id (i) at end of body")
	}
}

// ceoMessage is forged own-domain mail: From "CEO" <ceo@example.org>.
func ceoMessage(id string) []byte {
	return postfix.Message{From: `"CEO" <ceo@example.org>`, To: rcpt, Subject: "space before the colon",
		MessageID: id, Body: "Pay this invoice.\n"}.Bytes()
}

// spaceBeforeColon rewrites the From field as "From : ...".
func spaceBeforeColon(msg []byte) []byte {
	return bytes.Replace(msg, []byte("From: "), []byte("From : "), 1)
}
