//go:build e2e

package e2e

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// party is one SMTP client of the test world.
type party struct{ ip, helo string }

var (
	outbound = party{"127.0.0.10", "mail.example.org"}
	relay    = party{"127.0.0.20", "filter.example.org"}
	partner  = party{"127.0.0.30", "mail.partner.example"}
	spammer  = party{"127.0.0.66", "mail.spammer.example"}
)

// rcpt is the protected recipient of every scenario.
const rcpt = "user@example.org"

// scenario is one message and what Postfix must do with it.
type scenario struct {
	name string
	// origin is the client that wrote the message. With viaRelay it
	// connected to the filter, which passes the message on from
	// 127.0.0.20 with its own Received header naming origin on top.
	origin   party
	viaRelay bool
	mailFrom string // envelope sender
	from     string // RFC5322.From
	header   []string
	sign     bool // DKIM-signed by partner.example
	tamper   bool // body changed after signing
	want     outcome
}

// outcome is what Postfix did: "delivered", "rejected" (at stage, with a
// reply containing each of reply) or "held". check looks at the header
// of the delivered or held message.
type outcome struct {
	kind  string
	stage string
	reply []string
	check func(t *testing.T, h *postfix.Delivered)
}

func delivered(check func(*testing.T, *postfix.Delivered)) outcome {
	return outcome{kind: "delivered", check: check}
}

func rejected(stage string, reply ...string) outcome {
	return outcome{kind: "rejected", stage: stage, reply: reply}
}

func held(check func(*testing.T, *postfix.Delivered)) outcome {
	return outcome{kind: "held", check: check}
}

// The messages every mode is tried with.
var (
	forgedOwnEnvelope = scenario{
		name:   "forged own domain from the Internet",
		origin: spammer, mailFrom: "ceo@example.org", from: "CEO <ceo@example.org>",
	}
	forgedOwnFromDirect = scenario{
		name:   "forged own From straight from the Internet",
		origin: spammer, mailFrom: "bounce@spammer.example", from: "CEO <ceo@example.org>",
	}
	forgedOwnFromRelayed = scenario{
		name:   "forged own From through the relay",
		origin: spammer, viaRelay: true, mailFrom: "bounce@spammer.example", from: "CEO <ceo@example.org>",
	}
	partnerRelayed = scenario{
		name:   "partner DKIM-signed through the relay",
		origin: partner, viaRelay: true, mailFrom: "news@partner.example", from: "Partner <news@partner.example>",
		sign: true,
	}
	partnerDirect = scenario{
		name:   "partner straight to the back end",
		origin: partner, mailFrom: "news@partner.example", from: "Partner <news@partner.example>", sign: true,
	}
	ownOutbound = scenario{
		name:   "own outbound server",
		origin: outbound, mailFrom: "news@example.org", from: "Example <news@example.org>",
	}
	quarantinePartnerRelayed = scenario{
		name:   "p=quarantine domain failing DMARC through the relay",
		origin: spammer, viaRelay: true, mailFrom: "bounce@spammer.example", from: "Bank <alerts@bank.example>",
	}
	forgedAuthResults = scenario{
		name:   "forged Authentication-Results from outside",
		origin: partner, viaRelay: true, mailFrom: "news@partner.example", from: "Partner <news@partner.example>",
		sign: true,
		header: []string{
			"Authentication-Results: " + authservID + "; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=forged.example",
			"Authentication-Results: " + authservID + ";\r\n\tdmarc=pass header.from=forged.example",
			"Authentication-Results: MX.Example.ORG (checked upstream) 1; dkim=pass header.d=forged.example",
			"Authentication-Results: filter.example.org; spf=pass smtp.mailfrom=partner.example",
		},
	}
	partnerReplayedBySpammer = scenario{
		name:   "p=reject domain with a broken signature, sent by a spammer through the relay",
		origin: spammer, viaRelay: true, mailFrom: "bounce@spammer.example", from: "Partner <news@partner.example>",
		sign: true, tamper: true,
	}
)

// TestEnforce runs every scenario against the daemon in enforce mode over
// inet:, the default deployment behind a filtering relay, behind Postfix
// and behind Sendmail.
func TestEnforce(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		newWorld(t, worldOptions{mode: "enforce", sendmail: useSendmail}).runAll(t, enforceScenarios())
	})
}

// enforceScenarios are the messages of TestEnforce with their outcomes.
func enforceScenarios() []scenario {
	return []scenario{
		with(forgedOwnEnvelope, rejected(postfix.StageMail, "550 5.7.1", "example.org")),
		with(forgedOwnFromDirect, rejected(postfix.StageRcpt, "550 5.7.1", "example.org", "MX")),
		with(forgedOwnFromRelayed, rejected(postfix.StageEndData, "550 5.7.1")),
		with(partnerRelayed, delivered(all(
			ourAuthResults("spf=pass smtp.mailfrom=partner.example",
				"dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			verdict("accept")))),
		with(partnerDirect, rejected(postfix.StageRcpt, "550 5.7.1", "example.org", "MX")),
		with(ownOutbound, delivered(all(ourAuthResults(), verdict("accept")))),
		with(quarantinePartnerRelayed, held(all(
			ourAuthResults("dmarc=fail header.from=bank.example"),
			verdict("quarantine", "dmarc")))),
		with(forgedAuthResults, delivered(all(
			ourAuthResults("dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			noHeaderMentions("Authentication-Results", "forged.example"),
			keepsHeader("Authentication-Results", "filter.example.org; spf=pass smtp.mailfrom=partner.example"),
			verdict("accept")))),
		with(partnerReplayedBySpammer, rejected(postfix.StageEndData, "550 5.7.1")),
	}
}

// TestReportOnly runs the forgeries with milter.mode = "report-only":
// nothing is enforced, so everything is delivered, and the verdict that
// would have been applied is in the verdict header.
func TestReportOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "report-only"})
	w.runAll(t, []scenario{
		with(forgedOwnFromRelayed, delivered(all(
			ourAuthResults("dmarc=fail header.from=example.org"),
			verdict("reject", "header-forgery")))),
		with(forgedOwnEnvelope, delivered(verdict("reject"))),
		with(forgedOwnFromDirect, delivered(verdict("reject", "direct-delivery"))),
		with(quarantinePartnerRelayed, delivered(verdict("quarantine", "dmarc"))),
		with(partnerRelayed, delivered(all(
			ourAuthResults("dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			verdict("accept")))),
	})
}

// TestUnixSocket attaches the daemon over a unix: socket, as Debian's
// packages do, and checks one message of each outcome.
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "enforce", unix: true})
	w.runAll(t, []scenario{
		with(partnerRelayed, delivered(all(
			ourAuthResults("dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example"),
			verdict("accept")))),
		with(forgedOwnFromRelayed, rejected(postfix.StageEndData, "550 5.7.1")),
		with(forgedOwnFromDirect, rejected(postfix.StageRcpt, "550 5.7.1", "example.org", "MX")),
		with(quarantinePartnerRelayed, held(verdict("quarantine", "dmarc"))),
	})
}

func with(s scenario, want outcome) scenario {
	s.want = want
	return s
}

// runAll runs the scenarios side by side against the one world.
func (w *world) runAll(t *testing.T, scenarios []scenario) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			w.run(t, s)
		})
	}
}

// run sends the scenario's message and checks what Postfix did with it.
func (w *world) run(t *testing.T, s scenario) {
	id := postfix.NewMessageID(domainOf(s.from))
	mail := postfix.Mail{Client: s.origin.ip, Helo: s.origin.helo, From: s.mailFrom,
		To: []string{rcpt}, Data: w.message(t, s, id)}
	if s.viaRelay {
		hop := postfix.Hop{FromHelo: s.origin.helo, FromIP: s.origin.ip, By: relay.helo, For: rcpt}
		mail.Data, mail.Client, mail.Helo = hop.Relay(mail.Data), relay.ip, relay.helo
	}
	r := w.mta.Send(t, mail)
	switch s.want.kind {
	case "delivered":
		w.expectDelivered(t, s, id, r)
	case "rejected":
		w.expectRejected(t, s, id, r)
	case "held":
		w.expectHeld(t, s, id, r)
	default:
		t.Fatalf("scenario %q: unknown outcome %q", s.name, s.want.kind)
	}
}

// message builds the scenario's message, DKIM-signed by the partner when
// asked, and with the body changed after signing when asked.
func (w *world) message(t *testing.T, s scenario, id string) []byte {
	t.Helper()
	msg := postfix.Message{From: s.from, To: rcpt, Subject: s.name, MessageID: id,
		Header: s.header, Body: "Scenario: " + s.name + "\n"}
	data := msg.Bytes()
	if s.sign {
		signed, err := w.partner.Sign(data)
		if err != nil {
			t.Fatal(err)
		}
		data = signed
	}
	if s.tamper {
		data = bytes.Replace(data, []byte("Scenario:"), []byte("Changed:"), 1)
	}
	return data
}

func (w *world) expectDelivered(t *testing.T, s scenario, id string, r postfix.Result) {
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("want delivered, got refused at %s: %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	d := w.mta.WaitDelivered(t, id, 15*time.Second)
	if s.sign && !s.tamper {
		w.verifyDKIM(t, d)
	}
	if s.want.check != nil {
		s.want.check(t, d)
	}
	if t.Failed() {
		t.Logf("delivered header:\n%s", d.HeaderText())
	}
}

// verifyDKIM checks the delivered copy's signature without spoofguard, so
// a dkim result in our header can be told apart from a message the
// harness broke on the way.
func (w *world) verifyDKIM(t *testing.T, d *postfix.Delivered) {
	t.Helper()
	crlf := strings.ReplaceAll(string(d.Raw), "\n", "\r\n")
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(crlf),
		&dkim.VerifyOptions{LookupTXT: postfix.TXTLookup(w.dns.Addr)})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
		t.Errorf("harness: the delivered copy's DKIM signature does not verify on its own: %v %+v", err, verifs)
	}
}

func (w *world) expectRejected(t *testing.T, s scenario, id string, r postfix.Result) {
	if r.Stage() != s.want.stage {
		t.Fatalf("want refused at %s, got %s (reply %q)\n%s", s.want.stage, r.Stage(), r.Reply(), r.Transcript)
	}
	reply := r.Reply()
	for _, part := range s.want.reply {
		if !strings.Contains(reply, part) {
			t.Errorf("reply %q does not contain %q", reply, part)
		}
	}
	last := reply[strings.LastIndexByte(reply, '\n')+1:]
	if !strings.HasPrefix(last, s.want.reply[0]) {
		t.Errorf("reply %q does not start with %q", reply, s.want.reply[0])
	}
	if d := w.mta.FindDelivered(t, id); d != nil {
		t.Errorf("refused message was delivered anyway: %s", d.Path)
	}
}

func (w *world) expectHeld(t *testing.T, s scenario, id string, r postfix.Result) {
	if r.Stage() != postfix.StageAccepted {
		t.Fatalf("want held, got refused at %s: %q\n%s", r.Stage(), r.Reply(), r.Transcript)
	}
	h := w.mta.WaitQuarantined(t, id, 15*time.Second)
	if s.want.check != nil {
		s.want.check(t, h)
	}
	if t.Failed() {
		t.Logf("held header:\n%s", h.HeaderText())
	}
}

func domainOf(addr string) string {
	addr = strings.TrimSuffix(strings.TrimSpace(addr), ">")
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// all combines header checks.
func all(checks ...func(*testing.T, *postfix.Delivered)) func(*testing.T, *postfix.Delivered) {
	return func(t *testing.T, d *postfix.Delivered) {
		for _, c := range checks {
			c(t, d)
		}
	}
}

// ourAuthResults checks that exactly one Authentication-Results header
// carries our authserv-id, and that for each want ("dkim=pass
// header.d=partner.example") one of its result clauses has all the words.
func ourAuthResults(want ...string) func(*testing.T, *postfix.Delivered) {
	return func(t *testing.T, d *postfix.Delivered) {
		t.Helper()
		var ours []string
		for _, v := range d.Values("Authentication-Results") {
			if strings.EqualFold(authservIDOf(v), authservID) {
				ours = append(ours, v)
			}
		}
		if len(ours) != 1 {
			t.Errorf("want exactly one Authentication-Results of %s, got %d: %q", authservID, len(ours), ours)
			return
		}
		for _, w := range want {
			if !hasClause(ours[0], w) {
				t.Errorf("Authentication-Results %q: no result %q", ours[0], w)
			}
		}
	}
}

// authservIDOf is the authserv-id of an Authentication-Results value: its
// first word, with comments skipped (RFC 8601 §2.2: "[CFWS] authserv-id
// [CFWS authres-version] ...").
func authservIDOf(v string) string {
	head, _, _ := strings.Cut(v, ";")
	if f := strings.Fields(stripComments(head)); len(f) > 0 {
		return f[0]
	}
	return ""
}

// stripComments removes RFC 5322 comments, nested and with quoted-pairs.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
			b.WriteByte(' ')
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// hasClause reports whether one result clause of an
// Authentication-Results value holds every word of want.
func hasClause(ar, want string) bool {
	for _, clause := range resultClauses(ar) {
		if containsAll(strings.Fields(clause), strings.Fields(want)) {
			return true
		}
	}
	return false
}

// resultClauses splits an Authentication-Results value at the semicolons
// that end each resinfo, not at those inside quoted strings or comments
// (reason="...; ..."), and drops the authserv-id part.
func resultClauses(ar string) []string {
	var clauses []string
	start, depth, quoted := 0, 0, false
	for i := 0; i < len(ar); i++ {
		switch c := ar[i]; {
		case c == '\\':
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted && depth > 0:
			depth--
		case c == ';' && !quoted && depth == 0:
			clauses = append(clauses, ar[start:i])
			start = i + 1
		}
	}
	clauses = append(clauses, ar[start:])
	return clauses[1:]
}

func containsAll(have, want []string) bool {
next:
	for _, w := range want {
		for _, h := range have {
			if strings.EqualFold(h, w) {
				continue next
			}
		}
		return false
	}
	return true
}

// verdict checks the one verdict header: it starts with the action and
// mentions each further word (a rule name).
func verdict(action string, words ...string) func(*testing.T, *postfix.Delivered) {
	return func(t *testing.T, d *postfix.Delivered) {
		t.Helper()
		vs := d.Values("X-Spoofguard")
		if len(vs) != 1 {
			t.Errorf("want one X-Spoofguard header, got %q", vs)
			return
		}
		if !strings.HasPrefix(strings.ToLower(vs[0]), action) {
			t.Errorf("X-Spoofguard %q: want verdict %q first", vs[0], action)
		}
		for _, w := range words {
			if !strings.Contains(vs[0], w) {
				t.Errorf("X-Spoofguard %q does not mention %q", vs[0], w)
			}
		}
	}
}

// noHeaderMentions checks that no field called name contains text.
func noHeaderMentions(name, text string) func(*testing.T, *postfix.Delivered) {
	return func(t *testing.T, d *postfix.Delivered) {
		t.Helper()
		for _, v := range d.Values(name) {
			if strings.Contains(v, text) {
				t.Errorf("%s: %q still present", name, v)
			}
		}
	}
}

// keepsHeader checks that a field with exactly this value survived.
func keepsHeader(name, value string) func(*testing.T, *postfix.Delivered) {
	return func(t *testing.T, d *postfix.Delivered) {
		t.Helper()
		for _, v := range d.Values(name) {
			if v == value {
				return
			}
		}
		t.Errorf("%s: %q was removed; only headers with our authserv-id may be", name, value)
	}
}
