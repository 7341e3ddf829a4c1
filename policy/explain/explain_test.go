package explain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
)

const explainZone = `
example.org.            IN TXT "v=spf1 ip4:203.0.113.10 -all"
_dmarc.example.org.     IN TXT "v=DMARC1; p=none"
other.example.          IN TXT "v=spf1 -all"
trial.example.          IN TXT "v=spf1 -all"
edge.example.           IN TXT "v=spf1 ip4:203.0.113.10 -all"
partner.example.        IN TXT "v=spf1 ip4:192.0.2.30 -all"
_dmarc.partner.example. IN TXT "v=DMARC1; p=quarantine"
spammer.example.        IN TXT "v=spf1 ip4:192.0.2.66 -all"
_spf.cloud.example.     IN TXT "v=spf1 ip4:198.51.102.0/24 -all"
`

const explainConfig = `
[milter]
authserv_id = "backend.example.org"
[dns]
servers = ["%s"]
timeout = "300ms"
attempts = 1
[networks]
outbound = ["203.0.113.10"]
[[relay]]
name = "filter"
networks = ["198.51.100.0/24"]
[[relay]]
name = "filter2"
networks = ["198.51.101.0/24"]
[[relay]]
name = "cloud"
spf = ["_spf.cloud.example"]
[[domain]]
name = "example.org"
via = "filter"
[[domain]]
name = "other.example"
via = "filter2"
[[domain]]
name = "cloudy.example"
via = "cloud"
[[domain]]
name = "trial.example"
via = "filter"
mode = "report-only"
[[domain]]
name = "edge.example"
`

type explainWorld struct {
	dns *dnstest.Server
}

func (w *explainWorld) engine(t *testing.T) *policy.Engine {
	t.Helper()
	cfg, err := config.ParseConfig("test.toml", []byte(fmt.Sprintf(explainConfig, w.dns.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers, Timeout: cfg.DNS.Timeout.Duration, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(context.Background(), cfg, res, policy.Options{NoRefresh: true, Rand: func() int { return 0 }})
	t.Cleanup(e.Close)
	return e
}

// relayed puts the filter's Received header, naming the original client
// "helo ip", on top of a message.
func relayed(origin, msg string) string {
	helo, ip, _ := strings.Cut(origin, " ")
	return fmt.Sprintf("Received: from %s (%s [%s])\n\tby filter.example.org (Postfix) with ESMTP id 1\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000\n", helo, helo, ip) + msg
}

func message(from string) string {
	return "From: " + from + "\nTo: user@example.org\nSubject: test\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <t@test>\n\nHello.\n"
}

type explainCase struct {
	name     string
	client   string // "ip helo"
	mailFrom string
	rcpts    []string
	msg      string
	fault    string // a name that answers SERVFAIL during the case
	check    func(t *testing.T, r *Report)
}

func TestExplain(t *testing.T) {
	w := &explainWorld{dns: dnstest.New(t, explainZone)}
	cases := []explainCase{
		{name: "one recipient bypassed, the other's domain has no relay", client: "192.0.2.66 spam.spammer.example", mailFrom: "x@spammer.example",
			rcpts: []string{"user@example.org", "user@edge.example"}, msg: message("x@spammer.example"),
			check: func(t *testing.T, r *Report) {
				expect(t, "verdict", r.Verdict, config.ActionAccept)
				expect(t, "rule", r.Rule, "")
				expect(t, "ended", r.Ended, "end-of-body")
				expect(t, "statuses", statuses(r), "refused,accepted")
				expect(t, "reply", r.Recipients[0].Reply, "550 5.7.1 example.org accepts mail only through its MX; direct delivery refused")
				expect(t, "bypass", r.Path.Bypass, []Bypass{{Domain: "example.org", Via: "filter"}})
				expect(t, "kind", r.Path.Kind, "direct")
			}},
		{name: "every recipient bypassed", client: "192.0.2.66 spam.spammer.example", mailFrom: "x@spammer.example",
			rcpts: []string{"a@example.org", "b@other.example"}, msg: message("x@spammer.example"),
			check: func(t *testing.T, r *Report) {
				expect(t, "verdict", r.Verdict, config.ActionReject)
				expect(t, "rule", r.Rule, policy.RuleDirectDelivery)
				expect(t, "stage", r.Stage, "rcpt")
				expect(t, "ended", r.Ended, "rcpt")
				expect(t, "statuses", statuses(r), "refused,refused")
				expect(t, "bypasses", len(r.Path.Bypass), 2)
				expect(t, "A-R", r.AuthenticationResults, "")
				if r.VerdictHeader != nil {
					t.Errorf("a refused message gets no verdict header")
				}
			}},
		{name: "another domain's relay", client: "198.51.101.9 filter2.example", mailFrom: "alice@partner.example",
			rcpts: []string{"user@example.org"}, msg: relayed("mail.partner.example 192.0.2.30", message("alice@partner.example")),
			check: func(t *testing.T, r *Report) {
				expect(t, "rule", r.Rule, policy.RuleDirectDelivery)
				expect(t, "kind", r.Path.Kind, "relayed")
				expect(t, "relay", r.Path.Relay, "filter2")
				contains(t, r.Path.Summary, `came through relay "filter2" instead: a bypass of the filter`)
				contains(t, r.Path.Summary, "not looked for: the transaction ended at RCPT TO")
			}},
		{name: "relay set not loaded: tempfail, never reject", client: "192.0.2.66 spam.spammer.example", mailFrom: "x@spammer.example",
			rcpts: []string{"user@cloudy.example", "user@edge.example"}, msg: message("x@spammer.example"), fault: "_spf.cloud.example",
			check: func(t *testing.T, r *Report) {
				expect(t, "statuses", statuses(r), "refused,accepted")
				if !strings.HasPrefix(r.Recipients[0].Reply, "451 4.7.1") {
					t.Errorf("reply %q", r.Recipients[0].Reply)
				}
				expect(t, "outcome", r.Outcomes[2].Result, "temperror")
				// Not judged is not a bypass.
				if len(r.Path.Bypass) != 0 {
					t.Errorf("bypass %+v while the relay set is unknown", r.Path.Bypass)
				}
				contains(t, r.Path.Summary, "cannot be judged now")
			}},
		{name: "own outbound server", client: "203.0.113.10 out.example.org", mailFrom: "alice@example.org",
			rcpts: []string{"bob@partner.example"}, msg: message("alice@example.org"),
			check: func(t *testing.T, r *Report) {
				expect(t, "verdict", r.Verdict, config.ActionAccept)
				if r.SPF != nil {
					t.Errorf("SPF checked for an outbound client")
				}
				expect(t, "class", r.Client.Class, policy.ClassOutbound)
				contains(t, r.Path.Summary, "sent directly by an own client (outbound)")
				expect(t, "dkim", len(r.DKIM), 0)
			}},
		{name: "relay header missing", client: "198.51.100.5 filter.example.org", mailFrom: "bounce@spammer.example",
			rcpts: []string{"user@example.org"}, msg: message("CEO <ceo@example.org>"),
			check: func(t *testing.T, r *Report) {
				expect(t, "rule", r.Rule, policy.RuleHeaderForgery)
				contains(t, []string{r.Path.Error}, `relay "filter" should have added 1 Received header(s) but only 0 are present`)
				if r.Path.OriginalClient != nil {
					t.Errorf("original client %+v", r.Path.OriginalClient)
				}
			}},
		// An enforced quarantine (the partner's DMARC) and a report-only
		// reject (forgery of trial.example) in the same message: the
		// quarantine is what happens; the reject is what would have.
		{name: "enforced and report-only verdicts together", client: "198.51.100.5 filter.example.org", mailFrom: "bounce@spammer.example",
			rcpts: []string{"user@trial.example"}, msg: relayed("spam.spammer.example 192.0.2.66", message("director@trial.example, billing@partner.example")),
			check: func(t *testing.T, r *Report) {
				expect(t, "verdict", r.Verdict, config.ActionQuarantine)
				expect(t, "rule", r.Rule, policy.RuleDMARC)
				expect(t, "report_only", r.ReportOnly, false)
				expect(t, "reply", r.Reply, "250 accepted, held in quarantine")
				if r.Would == nil || r.Would.Action != config.ActionReject || r.Would.Rule != policy.RuleHeaderForgery {
					t.Fatalf("would = %+v", r.Would)
				}
				expect(t, "dmarc", len(r.DMARC), 2)
				expect(t, "verdict header", r.VerdictHeader.Value, "reject rule=header-forgery domain=trial.example (report-only, not enforced)")
			}},
		{name: "DMARC tags and sampling", client: "192.0.2.66 spam.spammer.example", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: message("alice@partner.example"),
			check: func(t *testing.T, r *Report) {
				d := r.DMARC[0]
				expect(t, "p", d.P, "quarantine")
				expect(t, "pct", d.Pct, 100)
				expect(t, "policy", d.PolicyTag+"="+d.Policy, "p=quarantine")
				expect(t, "record", d.RecordDomain, "partner.example")
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.fault != "" {
				w.dns.SetFault(c.fault, dnstest.ServFail)
				defer w.dns.SetFault(c.fault, dnstest.NoFault)
			}
			e := w.engine(t)
			ip, helo, _ := strings.Cut(c.client, " ")
			opts := Options{ClientIP: netip.MustParseAddr(ip), Helo: &helo, MailFrom: &c.mailFrom, Rcpts: c.rcpts}
			r, err := Check(context.Background(), e, strings.NewReader(c.msg), opts)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, r)
			sameAsEngine(t, e, c, r)
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "Verdict: "+string(r.Verdict)) {
				t.Errorf("text lacks the verdict:\n%s", text.String())
			}
		})
	}
}

// sameAsEngine runs the transaction through the engine directly and
// checks that the report tells its verdict: explain adds words, never
// judgement.
func sameAsEngine(t *testing.T, e *policy.Engine, c explainCase, r *Report) {
	t.Helper()
	ip, helo, _ := strings.Cut(c.client, " ")
	m, stage, err := e.Run(context.Background(), policy.Transaction{
		Client: policy.Client{IP: netip.MustParseAddr(ip), Helo: helo}, MailFrom: c.mailFrom, Rcpts: c.rcpts,
		Message: strings.NewReader(c.msg)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "ended", r.Ended, stage.String())
	if stage != policy.StageRcpt {
		expect(t, "engine verdict", r.Verdict, m.Verdict().Effective())
	}
	expect(t, "outcomes", len(r.Outcomes), len(m.Outcomes))
	for i, o := range m.Outcomes {
		if r.Outcomes[i].Rule != o.Rule || r.Outcomes[i].Result != o.Result || r.Outcomes[i].Detail != o.Detail {
			t.Errorf("outcome %d: %+v, engine %+v", i, r.Outcomes[i], o)
		}
	}
}

func statuses(r *Report) string {
	var s []string
	for _, rc := range r.Recipients {
		s = append(s, rc.Status)
	}
	return strings.Join(s, ",")
}

func expect[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func contains(t *testing.T, lines []string, part string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, part) {
			return
		}
	}
	t.Errorf("no line contains %q: %q", part, lines)
}

// TestCheckUnreadable: a message that cannot be read is an error, not a
// verdict.
func TestCheckUnreadable(t *testing.T) {
	w := &explainWorld{dns: dnstest.New(t, explainZone)}
	e := w.engine(t)
	_, err := Check(context.Background(), e, failingReader{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("err = %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

// TestExplainBrokenSignature: an own-domain message whose DKIM signature
// broke in transit (a mailing list altered the body) is refused at the
// end of the body, and the trace shows the failing signature and why.
func TestExplainBrokenSignature(t *testing.T) {
	w := &explainWorld{dns: dnstest.New(t, explainZone)}
	seed := sha256.Sum256([]byte("explain test key example.org"))
	key := ed25519.NewKeyFromSeed(seed[:])
	w.dns.MustAdd(t, `sel._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=`+
		base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))+`"`)
	var signed bytes.Buffer
	err := dkim.Sign(&signed, strings.NewReader(strings.ReplaceAll(message("Alice <alice@example.org>"), "\n", "\r\n")),
		&dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	msg := relayed("lists.example.net 192.0.2.40", strings.Replace(signed.String(), "Hello.", "Hello, altered by the list.", 1))
	e := w.engine(t)
	helo, from := "filter.example.org", "list-bounces@lists.example.net"
	r, err := Check(context.Background(), e, strings.NewReader(msg), Options{
		ClientIP: netip.MustParseAddr("198.51.100.5"), Helo: &helo, MailFrom: &from, Rcpts: []string{"user@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "rule", r.Rule, policy.RuleHeaderForgery)
	expect(t, "stage", r.Stage, "end-of-body")
	if len(r.DKIM) != 1 || r.DKIM[0].Result != dnsauth.Fail || r.DKIM[0].Reason == "" {
		t.Fatalf("dkim %+v", r.DKIM)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	want := "  fail       d=example.org s=sel a=ed25519-sha256: " + r.DKIM[0].Reason + "\n"
	if !strings.Contains(text.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, text.String())
	}
}

// TestExplainOwnClientText: a message from an own outbound server gets no
// sender checks, and the trace says so instead of showing empty results.
func TestExplainOwnClientText(t *testing.T) {
	w := &explainWorld{dns: dnstest.New(t, explainZone)}
	e := w.engine(t)
	helo, from := "out.example.org", "alice@example.org"
	r, err := Check(context.Background(), e, strings.NewReader(message("alice@example.org")), Options{
		ClientIP: netip.MustParseAddr("203.0.113.10"), Helo: &helo, MailFrom: &from, Rcpts: []string{"bob@partner.example"}})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"SPF: not checked: client is outbound, which is not checked",
		"DKIM: none: the message has no DKIM-Signature header",
		"DMARC: not evaluated: client is outbound",
		"  Authentication-Results: backend.example.org (outbound client 203.0.113.10);\n  \tnone\n",
		"  X-Spoofguard: accept",
	} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text lacks %q:\n%s", line, text.String())
		}
	}
}
