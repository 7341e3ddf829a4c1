package policy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// engineWorld is a small Internet for the engine: a protected domain
// behind a filtering relay, an edge-MX protected domain, partners with
// various DMARC policies, and DKIM keys made for the test.
type engineWorld struct {
	dns  *dnstest.Server
	keys map[string]ed25519.PrivateKey // signing domain → key (selector "sel")
}

const engineZone = `
example.org. IN TXT "v=spf1 ip4:203.0.113.10 ip4:192.0.2.77 -all"
_dmarc.example.org. IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.org"
edge.example. IN TXT "v=spf1 ip4:203.0.113.10 -all"
_dmarc.edge.example. IN TXT "v=DMARC1; p=none"
other.example. IN TXT "v=spf1 -all"
partner.example. IN TXT "v=spf1 ip4:192.0.2.30 -all"
_dmarc.partner.example. IN TXT "v=DMARC1; p=quarantine"
strict.example. IN TXT "v=spf1 ip4:192.0.2.31 -all"
_dmarc.strict.example. IN TXT "v=DMARC1; p=reject"
sampled.example. IN TXT "v=spf1 -all"
_dmarc.sampled.example. IN TXT "v=DMARC1; p=reject; pct=0"
spammer.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
lists.example.net. IN TXT "v=spf1 ip4:192.0.2.40 -all"
mx.remote.example. IN TXT "v=spf1 a -all"
mx.remote.example. IN A 192.0.2.50
_spf.cloud.example. IN TXT "v=spf1 ip4:198.51.102.0/24 include:_spf2.cloud.example -all"
_spf2.cloud.example. IN TXT "v=spf1 ip6:2001:db8:c10d::/48 -all"
`

const engineConfig = `
[milter]
authserv_id = "mx.example.org"
%s
[dns]
servers = ["%s"]
timeout = "1s"
attempts = 1
%s
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
name = "other.example"
via = "filter2"
[[domain]]
name = "cloudy.example"
via = "cloud"
[[domain]]
name = "edge.example"
[[domain]]
name = "example.org"
via = "filter"
lookalike_allow = ["lists.example.net"]
%s
`

func newEngineWorld(t testing.TB) *engineWorld {
	t.Helper()
	w := &engineWorld{dns: dnstest.New(t, engineZone), keys: map[string]ed25519.PrivateKey{}}
	for _, d := range []string{"example.org", "partner.example", "strict.example", "lists.example.net"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.keys[d] = priv
		w.dns.MustAdd(t, fmt.Sprintf(`sel._domainkey.%s. IN TXT "v=DKIM1; k=ed25519; p=%s"`, d, base64.StdEncoding.EncodeToString(pub)))
	}
	return w
}

// engine builds an engine from the world's base configuration, with
// milter lines added to [milter] and extra appended at the end (where it
// continues the example.org domain table until a new table starts).
func (w *engineWorld) engine(t testing.TB, milter, dns, extra string, opts Options) *Engine {
	t.Helper()
	cfg, err := config.ParseConfig("test.toml", []byte(fmt.Sprintf(engineConfig, milter, w.dns.Addr, dns, extra)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers, Timeout: cfg.DNS.Timeout.Duration, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	opts.NoRefresh = true
	e := NewEngine(context.Background(), cfg, res, opts)
	t.Cleanup(e.Close)
	return e
}

// message builds a CRLF message; signer, when set, DKIM-signs it as that
// domain. relayedFrom, when set, puts the relay's own Received header on
// top, naming the original client "helo [ip]".
func (w *engineWorld) message(t testing.TB, from, signer, relayedFrom string, extraHeaders ...string) string {
	t.Helper()
	var b strings.Builder
	for _, h := range extraHeaders {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: user@example.org\r\nSubject: test\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <%d@test>\r\n\r\nHello.\r\n", from, len(from))
	msg := b.String()
	if signer != "" {
		msg = w.signAs(t, msg, signer)
	}
	if relayedFrom != "" {
		helo, ip, _ := strings.Cut(relayedFrom, " ")
		msg = fmt.Sprintf("Received: from %s (%s [%s])\r\n\tby filter.example.org (Postfix) with ESMTPS id 4ABC123\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000\r\n", helo, helo, ip) + msg
	}
	return msg
}

// signAs DKIM-signs msg as domain with the world's key for it.
func (w *engineWorld) signAs(t testing.TB, msg, domain string) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: "sel", Signer: w.keys[domain],
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

type engineCase struct {
	name     string
	milter   string // lines for [milter]
	dns      string // lines for [dns]
	extra    string // configuration appended after the example.org domain table
	ip       string
	helo     string
	auth     string
	mailFrom string
	rcpts    []string
	msg      string
	// expected
	action     config.Action // effective action
	rule       string
	stage      Stage
	reportOnly config.Action // the observed action in report-only cases ("" = same as action)
}

func runEngineCases(t *testing.T, w *engineWorld, cases []engineCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := w.engine(t, c.milter, c.dns, c.extra, Options{Rand: func() int { return 50 }})
			rcpts := c.rcpts
			if rcpts == nil {
				rcpts = []string{"user@example.org"}
			}
			helo := c.helo
			if helo == "" {
				helo = "client.example"
			}
			m, stage, err := e.Run(context.Background(), Transaction{
				Client:   Client{IP: netip.MustParseAddr(c.ip), Helo: helo},
				MailFrom: c.mailFrom, AuthUser: c.auth, Rcpts: rcpts,
				Message: strings.NewReader(c.msg),
			})
			if err != nil {
				t.Fatal(err)
			}
			v := m.Verdict()
			if stage == StageRcpt {
				v = m.lastRcptVerdict()
			}
			obs := m.Observed()
			if v.Effective() != c.action || (c.action != config.ActionAccept && v.Rule != c.rule) || stage != c.stage {
				t.Errorf("got %s rule=%q at %s, want %s rule=%q at %s\nreason: %s\n%s",
					v.Effective(), v.Rule, stage, c.action, c.rule, c.stage, v.Reason, m.outcomeDump())
			}
			if c.reportOnly != "" && (obs.Action != c.reportOnly || !obs.ReportOnly || obs.Rule != c.rule) {
				t.Errorf("report-only: observed %s rule=%q reportOnly=%v, want %s rule=%q", obs.Action, obs.Rule, obs.ReportOnly, c.reportOnly, c.rule)
			}
			if c.action == config.ActionReject && (v.Code != 550 || !strings.HasPrefix(v.Status, "5.7.")) {
				t.Errorf("reject reply = %q", v.Reply())
			}
			if c.action == config.ActionTempFail && (v.Code != 451 || !strings.HasPrefix(v.Status, "4.")) {
				t.Errorf("tempfail reply = %q", v.Reply())
			}
		})
	}
}

// lastRcptVerdict is the verdict of the last recipient refused.
func (m *Message) lastRcptVerdict() Verdict {
	for i := len(m.Outcomes) - 1; i >= 0; i-- {
		if o := m.Outcomes[i]; o.Rule == RuleDirectDelivery && o.Verdict != nil {
			return *o.Verdict
		}
	}
	return Accept
}

func (m *Message) outcomeDump() string {
	var b strings.Builder
	for _, o := range m.Outcomes {
		fmt.Fprintf(&b, "  %-16s %-14s %-14s %s\n", o.Rule, o.Stage, o.Result, o.Detail)
	}
	return b.String()
}

func TestEngineSituations(t *testing.T) {
	w := newEngineWorld(t)
	ownForged := w.message(t, "CEO <ceo@example.org>", "", "")
	viaFilter := func(from, signer, origin string, extra ...string) string {
		return w.message(t, from, signer, origin, extra...)
	}
	runEngineCases(t, w, []engineCase{
		// A spammer connecting straight to the back end — an old cached
		// IP, the mail. name, a backup MX all look the same here: an
		// Internet client reaching a domain that takes mail only via its relay.
		{name: "direct delivery, own-domain From", ip: "192.0.2.66", mailFrom: "bounce@spammer.example",
			msg: ownForged, action: config.ActionReject, rule: RuleDirectDelivery, stage: StageRcpt},
		{name: "direct delivery, own envelope sender", ip: "192.0.2.66", mailFrom: "ceo@example.org",
			msg: ownForged, action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "partner mail sent straight to the back end", ip: "192.0.2.30", mailFrom: "alice@partner.example",
			msg: w.message(t, "alice@partner.example", "partner.example", ""), action: config.ActionReject, rule: RuleDirectDelivery, stage: StageRcpt},
		{name: "one recipient bypassed, the other's domain has no relay", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@example.org", "user@edge.example"}, msg: w.message(t, "x@spammer.example", "", ""),
			action: config.ActionAccept, stage: StageBody},
		{name: "another domain's relay is a bypass too", ip: "198.51.101.9", mailFrom: "alice@partner.example",
			msg:    w.message(t, "alice@partner.example", "partner.example", "mail.partner.example 192.0.2.30"),
			action: config.ActionReject, rule: RuleDirectDelivery, stage: StageRcpt},
		{name: "forged own From through the filter", ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg:    viaFilter("CEO <ceo@example.org>", "", "spam.spammer.example 192.0.2.66"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "forged own envelope through the filter", ip: "198.51.100.5", mailFrom: "ceo@example.org",
			msg:    viaFilter("CEO <ceo@example.org>", "", "spam.spammer.example 192.0.2.66"),
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "own user authenticated", ip: "192.0.2.99", auth: "alice", mailFrom: "alice@example.org",
			msg: w.message(t, "alice@example.org", "", ""), action: config.ActionAccept, stage: StageBody},
		{name: "own outbound server", ip: "203.0.113.10", mailFrom: "alice@example.org",
			msg: w.message(t, "alice@example.org", "", ""), action: config.ActionAccept, stage: StageBody},
		{name: "trusted network", ip: "127.0.0.1", mailFrom: "root@example.org",
			msg: w.message(t, "root@example.org", "", ""), action: config.ActionAccept, stage: StageBody},
		{name: "mailing list re-sends own-domain mail with own DKIM", ip: "198.51.100.5", mailFrom: "list-bounces@lists.example.net",
			msg:    viaFilter("Alice <alice@example.org>", "example.org", "lists.example.net 192.0.2.40"),
			action: config.ActionAccept, stage: StageBody},
		{name: "own domain SaaS sender aligned by SPF", ip: "198.51.100.5", mailFrom: "news@example.org",
			msg: viaFilter("news@example.org", "", "saas.example 192.0.2.77"), action: config.ActionAccept, stage: StageBody},
		{name: "own DKIM signature broken in transit", ip: "198.51.100.5", mailFrom: "list-bounces@lists.example.net",
			msg:    strings.Replace(viaFilter("Alice <alice@example.org>", "example.org", "lists.example.net 192.0.2.40"), "Hello.", "Hello, altered.", 1),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "partner with p=quarantine failing", ip: "198.51.100.5", mailFrom: "alice@partner.example",
			msg:    viaFilter("alice@partner.example", "", "spam.spammer.example 192.0.2.66"),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
		{name: "partner signed through the filter", ip: "198.51.100.5", mailFrom: "alice@partner.example",
			msg:    viaFilter("alice@partner.example", "partner.example", "mail.partner.example 192.0.2.30"),
			action: config.ActionAccept, stage: StageBody},
		{name: "bounce through the filter", ip: "198.51.100.5", helo: "filter.example.org", mailFrom: "",
			msg:    viaFilter("MAILER-DAEMON@mx.remote.example", "", "mx.remote.example 192.0.2.50"),
			action: config.ActionAccept, stage: StageBody},
		{name: "bounce straight to the back end", ip: "192.0.2.50", helo: "mx.remote.example", mailFrom: "",
			msg: w.message(t, "MAILER-DAEMON@mx.remote.example", "", ""), action: config.ActionReject, rule: RuleDirectDelivery, stage: StageRcpt},
		{name: "null sender with forged own HELO", ip: "192.0.2.66", helo: "mail.example.org", mailFrom: "",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "x@spammer.example", "", ""),
			action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "edge MX: forged own From from the Internet", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "boss@edge.example", "", ""),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "edge MX: subdomain of protected domain", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "boss@mail.edge.example", "", ""),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "several From addresses, one own", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "a@spammer.example, boss@edge.example", "", ""),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "strict partner p=reject failing", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "ceo@strict.example", "", ""),
			action: config.ActionReject, rule: RuleDMARC, stage: StageBody},
		{name: "p=reject mapped to quarantine locally", extra: "[dmarc]\non_reject = \"quarantine\"", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "ceo@strict.example", "", ""),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
		{name: "pct=0 exempts from reject", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "ceo@sampled.example", "", ""),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
		{name: "dmarc disabled", extra: "[dmarc]\nenabled = false", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "ceo@strict.example", "", ""),
			action: config.ActionAccept, stage: StageBody},
		{name: "spf fail of other domain: accepted by default", ip: "192.0.2.66", mailFrom: "alice@strict.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "alice@strict.example", "strict.example", ""),
			action: config.ActionAccept, stage: StageBody},
		{name: "spf fail of other domain with on_fail = reject", extra: "[spf]\non_fail = \"reject\"", ip: "192.0.2.66", mailFrom: "alice@strict.example",
			rcpts: []string{"user@edge.example"}, msg: w.message(t, "alice@strict.example", "strict.example", ""),
			action: config.ActionReject, rule: RuleSPF, stage: StageMailFrom},
	})
}

func TestEngineReportOnlyAndAllowLists(t *testing.T) {
	w := newEngineWorld(t)
	forged := w.message(t, "CEO <ceo@example.org>", "", "spam.spammer.example 192.0.2.66")
	partnerFail := w.message(t, "alice@partner.example", "", "spam.spammer.example 192.0.2.66")
	listMail := w.message(t, "alice@partner.example", "lists.example.net", "lists.example.net 192.0.2.40")
	runEngineCases(t, w, []engineCase{
		{name: "global report-only", milter: `mode = "report-only"`, ip: "198.51.100.5", mailFrom: "bounce@spammer.example", msg: forged,
			action: config.ActionAccept, rule: RuleHeaderForgery, stage: StageBody, reportOnly: config.ActionReject},
		{name: "per-domain report-only", extra: `mode = "report-only"`, ip: "198.51.100.5", mailFrom: "bounce@spammer.example", msg: forged,
			action: config.ActionAccept, rule: RuleHeaderForgery, stage: StageBody, reportOnly: config.ActionReject},
		{name: "per-domain enforce under global report-only", milter: `mode = "report-only"`, extra: `mode = "enforce"`, ip: "198.51.100.5",
			mailFrom: "bounce@spammer.example", msg: forged, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "per-domain report-only for direct delivery", extra: `mode = "report-only"`, ip: "192.0.2.66", mailFrom: "bounce@spammer.example",
			msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionAccept, rule: RuleDirectDelivery, stage: StageBody, reportOnly: config.ActionReject},
		{name: "direct delivery quarantined instead", extra: `direct_delivery = "quarantine"`, ip: "192.0.2.66", mailFrom: "bounce@spammer.example",
			msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionQuarantine, rule: RuleDirectDelivery, stage: StageBody},
		{name: "header forgery only logged", extra: `header_forgery = "accept"`, ip: "198.51.100.5", mailFrom: "bounce@spammer.example", msg: forged,
			action: config.ActionAccept, stage: StageBody},
		{name: "allow-listed sender domain", extra: "[allow]\nsender_domains = [\"partner.example\"]", ip: "198.51.100.5", mailFrom: "alice@partner.example",
			msg: partnerFail, action: config.ActionAccept, stage: StageBody},
		{name: "allow-listed network (original client)", extra: "[allow]\nnetworks = [\"192.0.2.66/32\"]", ip: "198.51.100.5", mailFrom: "alice@partner.example",
			msg: partnerFail, action: config.ActionAccept, stage: StageBody},
		{name: "allow-listed DKIM domain (mailing list)", extra: "[allow]\ndkim_domains = [\"lists.example.net\"]", ip: "198.51.100.5", mailFrom: "list-bounces@lists.example.net",
			msg: listMail, action: config.ActionAccept, stage: StageBody},
		{name: "mailing list without allow-list", ip: "198.51.100.5", mailFrom: "list-bounces@lists.example.net",
			msg: listMail, action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
		{name: "allow-list never rescues own-domain forgery", extra: "[allow]\nnetworks = [\"192.0.2.66/32\"]", ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg: forged, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
	})
}

func TestEngineRelayTrace(t *testing.T) {
	w := newEngineWorld(t)
	noTrace := w.message(t, "CEO <ceo@example.org>", "", "")
	// A sender-forged trace header beneath the relay's: it claims the
	// message came from the own outbound server. Only the relay's own
	// header may be believed.
	forgedBeneath := w.message(t, "CEO <ceo@example.org>", "", "spam.spammer.example 192.0.2.66",
		"Received: from out.example.org (out.example.org [203.0.113.10]) by mx.example.org (Postfix) with ESMTP id FAKE; Mon, 1 Jan 2024 09:00:00 +0000")
	fromOwnServer := w.message(t, "CEO <ceo@example.org>", "", "out.example.org 203.0.113.10")
	unparseable := "Received: garbage without a client\r\n" + w.message(t, "alice@partner.example", "partner.example", "")
	runEngineCases(t, w, []engineCase{
		{name: "relay header missing: checks go on without SPF", ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg: noTrace, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "relay header unparseable: configured outcome", extra: "[[relay]]\nname = \"x\"\nnetworks = [\"198.51.103.0/24\"]\ntrace_error = \"tempfail\"",
			ip: "198.51.103.5", mailFrom: "alice@partner.example", rcpts: []string{"user@edge.example"},
			msg: unparseable, action: config.ActionTempFail, rule: RuleRelayTrace, stage: StageHeaders},
		{name: "forged trace header beneath the relay's is ignored", ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg: forgedBeneath, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "relayed from own outbound server", ip: "198.51.100.5", mailFrom: "ceo@example.org",
			msg: fromOwnServer, action: config.ActionAccept, stage: StageBody},
		{name: "MTA's own Received header for this hop is skipped", ip: "198.51.100.5", mailFrom: "bounce@spammer.example",
			msg: "Received: from filter.example.org (filter.example.org [198.51.100.5]) by mx.example.org (Sendmail) with ESMTP id X; Mon, 1 Jan 2024 10:00:02 +0000\r\n" +
				w.message(t, "alice@partner.example", "partner.example", "mail.partner.example 192.0.2.30"),
			action: config.ActionAccept, stage: StageBody},
		{name: "relay with two hops", extra: "[[relay]]\nname = \"pp\"\nnetworks = [\"198.51.104.0/24\"]\nhops = 2", ip: "198.51.104.5",
			mailFrom: "alice@partner.example", rcpts: []string{"user@edge.example"},
			msg: "Received: from pps.filterd (m0.pphosted.example [127.0.0.1]) by m0.pphosted.example (8.17.1/8.17.1) with ESMTP id Y; Mon, 1 Jan 2024 10:00:02 +0000\r\n" +
				w.message(t, "alice@partner.example", "", "spam.spammer.example 192.0.2.66"),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
	})
}

func TestEngineClassifiesLocalSubmission(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", "", Options{})
	// Postfix reports its local submission (non_smtpd_milters) as
	// 127.0.0.1; no address at all proves nothing.
	if c, _, why := e.Classify(netip.Addr{}, ""); c != ClassInternet {
		t.Errorf("no client address: %s (%s), want internet", c, why)
	}
	if c, _, why := e.Classify(netip.Addr{}, "alice"); c != ClassAuthenticated {
		t.Errorf("no client address, SMTP AUTH: %s (%s), want authenticated", c, why)
	}
	if c, _, _ := e.Classify(netip.MustParseAddr("127.0.0.1"), ""); c != ClassTrusted {
		t.Errorf("Postfix local submission (127.0.0.1): %s, want trusted", c)
	}
	if c, _, _ := e.Classify(netip.MustParseAddr("::ffff:127.0.0.1"), ""); c != ClassTrusted {
		t.Errorf("IPv4-mapped loopback: %s, want trusted", c)
	}
}

func TestEngineRelayFromSPF(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", "", Options{})
	for ip, want := range map[string]Class{"198.51.102.7": ClassRelay, "2001:db8:c10d::25": ClassRelay, "198.51.105.1": ClassInternet} {
		if c, relay, why := e.Classify(netip.MustParseAddr(ip), ""); c != want || (c == ClassRelay && relay != "cloud") {
			t.Errorf("%s: %s %q (%s), want %s", ip, c, relay, why, want)
		}
	}
	nets, status := e.RelayNetworks("cloud")
	if len(nets) != 2 {
		t.Errorf("cloud networks = %v (%s)", nets, status)
	}
}

func TestEngineTemperrorsNeverReject(t *testing.T) {
	w := newEngineWorld(t)
	w.dns.MustAdd(t, `
flaky.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
_dmarc.flaky.example. IN TXT "v=DMARC1; p=reject"
`)
	w.dns.SetFault("_dmarc.flaky.example", dnstest.ServFail)
	// The client is not in flaky.example's SPF: without an aligned pass,
	// the policy that could not be read decides.
	flaky := w.message(t, "x@flaky.example", "", "")
	runEngineCases(t, w, []engineCase{
		{name: "DMARC SERVFAIL: tempfail", ip: "192.0.2.99", mailFrom: "x@flaky.example", rcpts: []string{"user@edge.example"},
			msg: flaky, action: config.ActionTempFail, rule: RuleDMARC, stage: StageBody},
		{name: "DMARC SERVFAIL with on_temperror = accept", dns: `on_temperror = "accept"`, ip: "192.0.2.99", mailFrom: "x@flaky.example",
			rcpts: []string{"user@edge.example"}, msg: flaky, action: config.ActionAccept, stage: StageBody},
		{name: "DMARC SERVFAIL with on_temperror = quarantine", dns: `on_temperror = "quarantine"`, ip: "192.0.2.99", mailFrom: "x@flaky.example",
			rcpts: []string{"user@edge.example"}, msg: flaky, action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
	})

	// SPF of a protected domain unreachable: envelope forgery cannot be
	// decided, so the temperror action applies, never a reject.
	w.dns.SetFault("edge.example", dnstest.ServFail)
	runEngineCases(t, w, []engineCase{
		{name: "own SPF SERVFAIL", ip: "192.0.2.66", mailFrom: "boss@edge.example", rcpts: []string{"user@edge.example"},
			msg: w.message(t, "boss@edge.example", "", ""), action: config.ActionTempFail, rule: RuleEnvelopeForgery, stage: StageMailFrom},
	})
	w.dns.SetFault("edge.example", dnstest.NoFault)

	// The relay's networks come from SPF and could not be fetched: mail
	// for its domains cannot be judged as direct delivery yet.
	w.dns.SetFault("_spf.cloud.example", dnstest.ServFail)
	runEngineCases(t, w, []engineCase{
		{name: "relay set unknown", ip: "192.0.2.66", mailFrom: "x@spammer.example", rcpts: []string{"user@cloudy.example"},
			msg: w.message(t, "x@spammer.example", "", ""), action: config.ActionTempFail, rule: RuleDirectDelivery, stage: StageRcpt},
	})
}
