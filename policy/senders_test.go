package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// senderZone is the engine's world with example.org publishing
// p=reject (the usual case for a domain worth forging), a newsletter
// service signing as mcsv.example from 192.0.2.80 and a CRM whose bounce
// domain servers.crm.example sends from 192.0.2.81.
var senderZone = strings.Replace(engineZone, "p=none; rua=mailto:dmarc@example.org", "p=reject", 1) + `
mcsv.example. IN TXT "v=spf1 ip4:192.0.2.80 -all"
servers.crm.example. IN TXT "v=spf1 ip4:192.0.2.81 -all"
`

func newSenderWorld(t testing.TB) *engineWorld {
	t.Helper()
	return newEngineWorldWith(t, senderZone, "example.org", "mcsv.example", "lists.example.net", "partner.example")
}

// senderEngine is the world's engine with the authorised senders of
// example.org written as in the file: `senders = [...]`.
func (w *engineWorld) senderEngine(t testing.TB, milter, senders string) *Engine {
	t.Helper()
	return w.engine(t, milter, "", senders, Options{Rand: func() int { return 50 }})
}

const (
	mailchimp = `senders = [{ name = "Mailchimp", dkim = "mcsv.example" }]`
	crm       = `senders = [{ name = "CRM", spf = "servers.crm.example" }]`
	printer   = `senders = [{ name = "Printer", networks = ["192.0.2.82/32"] }]`
	everyKind = `senders = [{ name = "Mailchimp", dkim = "mcsv.example" }, { name = "CRM", spf = "servers.crm.example" },
		{ name = "Printer", networks = ["192.0.2.82"] }]`
)

type senderCase struct {
	name     string
	senders  string
	ip       string
	helo     string
	mailFrom string
	rcpt     string // default user@edge.example: no relay, so direct delivery stays out of the way
	msg      string
	action   config.Action
	rule     string
	stage    Stage
	matched  string // the authorised sender expected to be named
}

func runSenderCases(t *testing.T, w *engineWorld, cases []senderCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, stage := w.runSenderCase(t, c)
			v := m.Verdict()
			if stage == StageRcpt {
				v = m.lastRcptVerdict()
			}
			if v.Effective() != c.action || v.Rule != c.rule || stage != c.stage {
				t.Errorf("got %s rule=%q at %s, want %s rule=%q at %s\nreason: %s\n%s",
					v.Effective(), v.Rule, stage, c.action, c.rule, c.stage, v.Reason, m.outcomeDump())
			}
			if got := m.AuthorizedSender(); got != c.matched {
				t.Errorf("AuthorizedSender() = %q, want %q\n%s", got, c.matched, m.outcomeDump())
			}
			ar := strings.Join(strings.Fields(m.AuthResults("mx.example.org")), " ")
			if named := strings.Contains(ar, `authorised sender "`+c.matched+`" for example.org`); named != (c.matched != "") {
				t.Errorf("Authentication-Results names the sender: %v, want %v:\n%s", named, c.matched != "", ar)
			}
		})
	}
}

func (w *engineWorld) runSenderCase(t *testing.T, c senderCase) (*Message, Stage) {
	e := w.senderEngine(t, "", c.senders)
	rcpt, helo := c.rcpt, c.helo
	if rcpt == "" {
		rcpt = "user@edge.example"
	}
	if helo == "" {
		helo = "client.example"
	}
	m, stage, err := e.Run(context.Background(), Transaction{
		Client:   Client{IP: netip.MustParseAddr(c.ip), Helo: helo},
		MailFrom: c.mailFrom, Rcpts: []string{rcpt}, Message: strings.NewReader(c.msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, stage
}

// TestSenderDKIM: a newsletter service signing with its own domain sends
// as the protected domain, with its own or the protected domain's
// envelope sender. Only a signature of exactly the listed domain that
// verifies lets it through.
func TestSenderDKIM(t *testing.T) {
	w := newSenderWorld(t)
	news := w.message(t, "News <news@example.org>", "mcsv.example", "")
	tampered := strings.Replace(news, "Hello.", "Hello, changed.", 1)
	runSenderCases(t, w, []senderCase{
		{name: "SaaS envelope, listed", senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example", msg: news,
			action: config.ActionAccept, stage: StageBody, matched: "Mailchimp"},
		{name: "SaaS envelope, not listed", ip: "192.0.2.80", mailFrom: "bounce@mcsv.example", msg: news,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "own envelope, listed", senders: mailchimp, ip: "192.0.2.80", mailFrom: "news@example.org", msg: news,
			action: config.ActionAccept, stage: StageBody, matched: "Mailchimp"},
		{name: "own envelope, not listed", ip: "192.0.2.80", mailFrom: "news@example.org", msg: news,
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "own envelope, listed, unsigned forgery", senders: mailchimp, ip: "192.0.2.80", mailFrom: "news@example.org",
			msg: w.message(t, "News <news@example.org>", "", ""), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "listed, unsigned forgery", senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example",
			msg: w.message(t, "News <news@example.org>", "", ""), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "listed, signature broken", senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example", msg: tampered,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "own envelope, listed, signature broken", senders: mailchimp, ip: "192.0.2.80", mailFrom: "news@example.org", msg: tampered,
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageBody},
		{name: "listed, another domain's signature", senders: mailchimp, ip: "192.0.2.66", mailFrom: "x@spammer.example",
			msg: w.message(t, "News <news@example.org>", "partner.example", ""), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "the d= must be exactly the listed domain", senders: `senders = [{ name = "Lists", dkim = "example.net" }]`,
			ip: "192.0.2.40", mailFrom: "x@lists.example.net", msg: w.message(t, "News <news@example.org>", "lists.example.net", ""),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
	})
}

// TestSenderSPFAndNetworks: a CRM proven by SPF for its own bounce domain,
// and a device on a known network, directly or behind the relay.
func TestSenderSPFAndNetworks(t *testing.T) {
	w := newSenderWorld(t)
	plain := w.message(t, "Sales <sales@example.org>", "", "")
	relayed := func(origin string) string { return w.message(t, "Scanner <scan@example.org>", "", origin) }
	runSenderCases(t, w, []senderCase{
		{name: "spf passes", senders: crm, ip: "192.0.2.81", mailFrom: "b@servers.crm.example", msg: plain,
			action: config.ActionAccept, stage: StageBody, matched: "CRM"},
		{name: "spf fails", senders: crm, ip: "192.0.2.66", mailFrom: "b@servers.crm.example", msg: plain,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "spf of the HELO does not count", senders: crm, ip: "192.0.2.81", helo: "servers.crm.example", mailFrom: "", msg: plain,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "network, own envelope", senders: printer, ip: "192.0.2.82", mailFrom: "scan@example.org", msg: plain,
			action: config.ActionAccept, stage: StageBody, matched: "Printer"},
		{name: "outside the network, own envelope", senders: printer, ip: "192.0.2.83", mailFrom: "scan@example.org", msg: plain,
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "network, HELO in the protected domain", senders: printer, ip: "192.0.2.82", helo: "printer.example.org",
			mailFrom: "scan@partner.example", msg: plain, action: config.ActionAccept, stage: StageBody, matched: "Printer"},
		{name: "network behind the relay", senders: printer, ip: "198.51.100.5", mailFrom: "scan@example.org", rcpt: "user@example.org",
			msg: relayed("printer.lan 192.0.2.82"), action: config.ActionAccept, stage: StageBody, matched: "Printer"},
		{name: "the relay itself is not the network", senders: `senders = [{ name = "Filter", networks = ["198.51.100.0/24"] }]`,
			ip: "198.51.100.5", mailFrom: "scan@example.org", rcpt: "user@example.org",
			msg: relayed("spam.spammer.example 192.0.2.66"), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "every kind listed, none proven", senders: everyKind, ip: "192.0.2.66", mailFrom: "ceo@example.org", msg: plain,
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
	})
}

// TestSenderOtherRulesUntouched: an entry counts for its own domain's
// own-domain rules only; direct delivery and the other protected domains
// judge the same message as before.
func TestSenderOtherRulesUntouched(t *testing.T) {
	w := newSenderWorld(t)
	runSenderCases(t, w, []senderCase{
		{name: "direct delivery still refused", senders: printer, ip: "192.0.2.82", mailFrom: "scan@example.org", rcpt: "user@example.org",
			msg: w.message(t, "scan@example.org", "", ""), action: config.ActionReject, rule: RuleDirectDelivery, stage: StageRcpt, matched: "Printer"},
		{name: "another protected domain's From", senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example",
			msg: w.message(t, "news@edge.example", "mcsv.example", ""), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "another protected domain's envelope", senders: printer, ip: "192.0.2.82", mailFrom: "scan@edge.example",
			msg: w.message(t, "scan@example.org", "", ""), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "two protected From domains, one listed", senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example",
			msg: w.message(t, "news@example.org, news@edge.example", "mcsv.example", ""), action: config.ActionReject, rule: RuleHeaderForgery,
			stage: StageHeaders},
	})
}

// TestSenderDMARC: the protected domain publishes p=reject; the listed
// sender's mail fails DMARC and is not refused for it, while an unlisted
// one with the same SPF-aligned-less setup is.
func TestSenderDMARC(t *testing.T) {
	w := newSenderWorld(t)
	m, _ := w.runSenderCase(t, senderCase{senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example",
		msg: w.message(t, "news@example.org", "mcsv.example", "")})
	var dmarcOutcome Outcome
	for _, o := range m.Outcomes {
		if o.Rule == RuleDMARC {
			dmarcOutcome = o
		}
	}
	if len(m.DMARC) != 1 || m.DMARC[0].Result != "fail" || dmarcOutcome.Result != "allowed" ||
		!strings.Contains(dmarcOutcome.Detail, `authorised sender "Mailchimp"`) {
		t.Errorf("DMARC %+v, outcome %+v: want a failure allowed for the authorised sender", m.DMARC, dmarcOutcome)
	}
}

// TestSenderDKIMTemperror: the listed domain's key cannot be fetched, so
// the rescue is unknown: a temporary failure, never a reject.
func TestSenderDKIMTemperror(t *testing.T) {
	w := newSenderWorld(t)
	w.dns.SetFault("sel._domainkey.mcsv.example", dnstest.ServFail)
	runSenderCases(t, w, []senderCase{
		{name: "SaaS envelope", senders: mailchimp, ip: "192.0.2.80", mailFrom: "bounce@mcsv.example",
			msg: w.message(t, "news@example.org", "mcsv.example", ""), action: config.ActionTempFail, rule: RuleHeaderForgery, stage: StageBody},
		{name: "own envelope", senders: mailchimp, ip: "192.0.2.80", mailFrom: "news@example.org",
			msg: w.message(t, "news@example.org", "mcsv.example", ""), action: config.ActionTempFail, rule: RuleEnvelopeForgery, stage: StageBody},
	})
}

// TestSenderReportOnly: in report-only mode the rescue is reported the
// same way, and a forgery's would-be verdict stays.
func TestSenderReportOnly(t *testing.T) {
	w := newSenderWorld(t)
	e := w.senderEngine(t, `mode = "report-only"`, mailchimp)
	m, _, err := e.Run(context.Background(), Transaction{
		Client: Client{IP: netip.MustParseAddr("192.0.2.80"), Helo: "mta.mcsv.example"}, MailFrom: "news@example.org",
		Rcpts: []string{"user@edge.example"}, Message: strings.NewReader(w.message(t, "news@example.org", "mcsv.example", "")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Observed().Action != config.ActionAccept || m.AuthorizedSender() != "Mailchimp" {
		t.Errorf("observed %s, sender %q:\n%s", m.Observed().Summary(), m.AuthorizedSender(), m.outcomeDump())
	}
}
