package policy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/miekg/dns"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// Hostile messages through Engine.Run, the path `spoofguard check` takes
// and the daemon's stages in order. The milter package sends the same
// kinds of message through the real daemon; here each case also says
// what the evidence must look like — which DKIM result a malformed key
// gets, what the From parser reports — so that a verdict reached for the
// wrong reason is caught too.

// hostileCase is one message with its envelope, the verdict it must get,
// and an optional look at the evidence.
type hostileCase struct {
	name     string
	ip       string
	mailFrom string
	rcpt     string
	msg      string
	action   config.Action
	rule     string
	stage    Stage
	check    func(t *testing.T, m *Message)
}

func runHostile(t *testing.T, e *Engine, cases []hostileCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcpt := c.rcpt
			if rcpt == "" {
				rcpt = "user@edge.example"
			}
			ip := c.ip
			if ip == "" {
				ip = "192.0.2.66"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			m, stage, err := e.Run(ctx, Transaction{
				Client:   Client{IP: netip.MustParseAddr(ip), Helo: "spam.spammer.example"},
				MailFrom: c.mailFrom, Rcpts: []string{rcpt}, Message: strings.NewReader(c.msg),
			})
			checkDecided(t, m, stage, err)
			v := m.Verdict()
			if v.Action != c.action || v.Rule != c.rule || stage != c.stage {
				t.Errorf("got %s rule=%q at %s, want %s rule=%q at %s\nreason: %s\n%s",
					v.Action, v.Rule, stage, c.action, c.rule, c.stage, v.Reason, m.outcomeDump())
			}
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

// hmsg is a message from the spammer's point of view: the extra header
// lines on top, then From (left out when from is "-"), and the body.
func hmsg(from, body string, extra ...string) string {
	var b strings.Builder
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if from != "-" {
		b.WriteString("From: " + from + "\r\n")
	}
	b.WriteString("To: user@edge.example\r\nSubject: test\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <x@test>\r\n\r\n" + body)
	return b.String()
}

func fromProblemIs(want string) func(*testing.T, *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		if !strings.Contains(m.From.Problem, want) {
			t.Errorf("From problem %q, want %q", m.From.Problem, want)
		}
	}
}

func fromDomainsAre(want ...string) func(*testing.T, *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		if fmt.Sprint(m.From.Domains) != fmt.Sprint(want) {
			t.Errorf("From domains %q, want %q", m.From.Domains, want)
		}
	}
}

// dkimAre checks every DKIM result, in header order.
func dkimAre(want ...dnsauth.Result) func(*testing.T, *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		var got []dnsauth.Result
		for _, r := range m.DKIM {
			got = append(got, r.Result)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("DKIM results %v, want %v", m.DKIM, want)
		}
	}
}

func TestEngineHostileFrom(t *testing.T) {
	w := newHostileWorld(t)
	e := w.engine(t, "", "", "", Options{Rand: func() int { return 50 }})
	own := "x@spammer.example"
	runHostile(t, e, []hostileCase{
		{name: "empty From", mailFrom: own, msg: hmsg("", "Hi.\r\n"), action: config.ActionAccept, stage: StageBody, check: fromProblemIs("no address")},
		{name: "whitespace-only From", mailFrom: own, msg: hmsg(" \t ", "Hi.\r\n"), action: config.ActionAccept, stage: StageBody},
		{name: "group From", mailFrom: own, msg: hmsg("Undisclosed recipients:;", "Hi.\r\n"), action: config.ActionAccept, stage: StageBody,
			check: fromProblemIs("group without mailboxes")},
		{name: "no From", mailFrom: own, msg: hmsg("-", "Hi.\r\n"), action: config.ActionAccept, stage: StageBody, check: fromProblemIs("no From header")},
		{name: "two From, one own", mailFrom: own, msg: hmsg("a@spammer.example", "Hi.\r\n", "From: boss@edge.example"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromProblemIs("2 From headers")},
		{name: "address without a domain (CVE-2021-34555)", mailFrom: own, msg: hmsg("<ceo@>", "Hi.\r\n"),
			action: config.ActionAccept, stage: StageBody},
		{name: "address without a domain next to an own one", mailFrom: own, msg: hmsg("<ceo@>, boss@edge.example", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromDomainsAre("edge.example")},
		{name: "own address in comments", mailFrom: own, msg: hmsg("(boss) boss(x)@(y)edge.example (z)", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromDomainsAre("edge.example")},
		{name: "quoted local part", mailFrom: own, msg: hmsg(`"the \"big\" boss"@edge.example`, "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromDomainsAre("edge.example")},
		{name: "encoded display name", mailFrom: own, msg: hmsg("=?utf-8?b?Q0VP?= <boss@edge.example>", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "encoded word in the local part hiding an own domain", mailFrom: own, msg: hmsg("<=?utf-8?q?boss=40edge.example?=@spammer.example>", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "trailing dot", mailFrom: own, msg: hmsg("boss@edge.example.", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromDomainsAre("edge.example")},
		{name: "capitals and a subdomain", mailFrom: own, msg: hmsg("BOSS@Mail.EDGE.Example", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromDomainsAre("mail.edge.example")},
		{name: "domain literal", mailFrom: own, msg: hmsg("boss@[192.0.2.66]", "Hi.\r\n"), action: config.ActionAccept, stage: StageBody},
		{name: "invalid UTF-8 around the own address", mailFrom: own, msg: hmsg("\xc3\x28 \xff <boss@edge.example> \xfe", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "NUL byte inside the From", mailFrom: own, msg: hmsg("boss@edge.example\x00x@spammer.example", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "NUL bytes and invalid UTF-8 in the body", mailFrom: own, msg: hmsg("a@spammer.example", "\x00\xff\xfe\r\n\x00"),
			action: config.ActionAccept, stage: StageBody},
		{name: "From folded over many lines", mailFrom: own, msg: hmsg("Boss\r\n <boss\r\n @edge.example\r\n >", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "own From with a garbage ARC set claiming a pass", mailFrom: own, msg: hmsg("boss@edge.example", "Hi.\r\n",
			"ARC-Seal: x", "ARC-Message-Signature: i=1; a=rsa-sha256; d=edge.example; s=sel; h=from; bh=x; b=x",
			"ARC-Authentication-Results: i=1; mx.example.org; dmarc=pass header.from=edge.example"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "garbage ARC set alone", mailFrom: own, msg: hmsg("a@spammer.example", "Hi.\r\n", "ARC-Seal: x", "ARC-Seal:", "ARC-Authentication-Results: ;;;"),
			action: config.ActionAccept, stage: StageBody},
	})
}

func TestEngineHostileDKIM(t *testing.T) {
	w := newHostileWorld(t)
	e := w.engine(t, "", "", "", Options{Rand: func() int { return 50 }})
	own := func(selector string) string {
		return w.sign(t, hmsg("boss@example.org", "Hi.\r\n"), "example.org", selector)
	}
	many := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=s%d; h=from; bh=AAAA; b=AAAA", i))
		}
		return out
	}
	permerrors := func(n int) []dnsauth.Result {
		out := make([]dnsauth.Result, n)
		for i := range out {
			out[i] = dnsauth.PermError
		}
		return out
	}
	// Forty broken signatures under one good one: the good one is
	// verified (it is on top), eight are, the rest are not looked at.
	fortyUnder := append([]dnsauth.Result{dnsauth.Pass}, permerrors(7)...)
	for len(fortyUnder) < 41 {
		fortyUnder = append(fortyUnder, dnsauth.Neutral)
	}
	fortyAlone := append(permerrors(8), make([]dnsauth.Result, 32)...)
	for i := 8; i < 40; i++ {
		fortyAlone[i] = dnsauth.Neutral
	}
	runHostile(t, e, []hostileCase{
		{name: "own From, good Ed25519 signature", mailFrom: "x@lists.example.net", msg: own("sel"),
			action: config.ActionAccept, stage: StageBody, check: dkimAre(dnsauth.Pass)},
		{name: "own From, good RSA signature", mailFrom: "x@lists.example.net", msg: own("rsa"),
			action: config.ActionAccept, stage: StageBody, check: dkimAre(dnsauth.Pass)},
		{name: "malformed Ed25519 key", mailFrom: "x@lists.example.net", msg: own("badkey-ed"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "malformed RSA key", mailFrom: "x@lists.example.net", msg: own("badkey-rsa"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "revoked key", mailFrom: "x@lists.example.net", msg: own("revoked"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "huge key record", mailFrom: "x@lists.example.net", msg: own("huge"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "no key at all", mailFrom: "x@lists.example.net", msg: own("nokey"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "partner Ed25519 key of 32 bytes that is not a point", mailFrom: "alice@partner.example",
			msg:    w.sign(t, hmsg("alice@partner.example", "Hi.\r\n"), "partner.example", "badkey-ed"),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "partner revoked key", mailFrom: "alice@partner.example",
			msg:    w.sign(t, hmsg("alice@partner.example", "Hi.\r\n"), "partner.example", "revoked"),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody, check: dkimAre(dnsauth.PermError)},
		{name: "empty tags", mailFrom: "x@spammer.example", msg: hmsg("boss@example.org", "Hi.\r\n", "DKIM-Signature: v=; a=; d=; s=; h=; bh=; b="),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "empty value", mailFrom: "x@spammer.example", msg: hmsg("boss@example.org", "Hi.\r\n", "DKIM-Signature:"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "repeated tags", mailFrom: "x@spammer.example",
			msg:    hmsg("boss@example.org", "Hi.\r\n", "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; d=example.org; s=sel; s=sel; h=from; bh=AAAA; b=AAAA"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "repeated tags on an empty-tag partner signature", mailFrom: "x@spammer.example",
			msg:    hmsg("a@spammer.example", "Hi.\r\n", "DKIM-Signature: ;;;;==;=;d=;d=;", "DKIM-Signature: v=1; v=1"),
			action: config.ActionAccept, stage: StageBody, check: dkimAre(dnsauth.PermError, dnsauth.PermError)},
		{name: "forty broken signatures", mailFrom: "x@spammer.example", msg: hmsg("boss@example.org", "Hi.\r\n", many(40)...),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody, check: dkimAre(fortyAlone...)},
		{name: "a good signature on top of forty broken ones", mailFrom: "x@spammer.example",
			msg:    w.sign(t, hmsg("boss@example.org", "Hi.\r\n", many(40)...), "example.org", "sel"),
			action: config.ActionAccept, stage: StageBody, check: dkimAre(fortyUnder...)},
	})
}

func TestEngineHostileRecordsAndSizes(t *testing.T) {
	w := newHostileWorld(t)
	e := w.engine(t, "", "", "[[domain]]\nname = \"broken.example\"", Options{Rand: func() int { return 50 }})
	spf := func(want dnsauth.Result) func(*testing.T, *Message) {
		return func(t *testing.T, m *Message) {
			t.Helper()
			if m.SPF == nil || m.SPF.Result != want {
				t.Errorf("SPF %+v, want %s", m.SPF, want)
			}
		}
	}
	dmarc := func(want dnsauth.Result) func(*testing.T, *Message) {
		return func(t *testing.T, m *Message) {
			t.Helper()
			if len(m.DMARC) != 1 || m.DMARC[0].Result != want {
				t.Errorf("DMARC %+v, want %s", m.DMARC, want)
			}
		}
	}
	both := func(fs ...func(*testing.T, *Message)) func(*testing.T, *Message) {
		return func(t *testing.T, m *Message) {
			for _, f := range fs {
				f(t, m)
			}
		}
	}
	thousands := make([]string, 5000)
	for i := range thousands {
		thousands[i] = fmt.Sprintf("X-Filler-%d: %d", i, i)
	}
	long := "X-Long: " + strings.Repeat("a", 200<<10)
	partner := func(body string, extra ...string) string {
		return w.sign(t, hmsg("alice@partner.example", body, extra...), "partner.example", "sel")
	}
	runHostile(t, e, []hostileCase{
		// broken.example is protected here: an SPF record that cannot be
		// read must never let its name be used from anywhere.
		{name: "protected domain, malformed SPF record", mailFrom: "boss@broken.example", rcpt: "user@edge.example",
			msg: hmsg("boss@broken.example", "Hi.\r\n"), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageMailFrom,
			check: spf(dnsauth.PermError)},
		{name: "two SPF records, two DMARC records", mailFrom: "a@twice.example", msg: hmsg("a@twice.example", "Hi.\r\n"),
			action: config.ActionAccept, stage: StageBody, check: both(spf(dnsauth.PermError), dmarc(dnsauth.None))},
		{name: "one 200 KB header on own From", mailFrom: "x@spammer.example", msg: hmsg("boss@edge.example", "Hi.\r\n", long),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "one 200 KB header on signed partner mail", ip: "192.0.2.30", mailFrom: "alice@partner.example", msg: partner("Hi.\r\n", long),
			action: config.ActionAccept, stage: StageBody, check: both(dkimAre(dnsauth.Pass), dmarc(dnsauth.Pass))},
		{name: "5000 headers on own From", mailFrom: "x@spammer.example", msg: hmsg("boss@edge.example", "Hi.\r\n", thousands...),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "5000 headers on signed partner mail", ip: "192.0.2.30", mailFrom: "alice@partner.example", msg: partner("Hi.\r\n", thousands...),
			action: config.ActionAccept, stage: StageBody, check: dmarc(dnsauth.Pass)},
		{name: "300 KB body line", ip: "192.0.2.30", mailFrom: "alice@partner.example", msg: partner(strings.Repeat("b", 300<<10) + "\r\n"),
			action: config.ActionAccept, stage: StageBody, check: dkimAre(dnsauth.Pass)},
		{name: "300 KB body line, bare LF", ip: "192.0.2.66", mailFrom: "x@spammer.example",
			msg:    strings.ReplaceAll(hmsg("boss@example.org", strings.Repeat("b", 300<<10)+"\n"), "\r\n", "\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		// Longer than the reader's 64 KB buffer: the line's first part
		// must survive reading the rest (it once did not, and the From
		// vanished from the check path).
		{name: "From line of 100 KB", mailFrom: "x@spammer.example", msg: hmsg("("+strings.Repeat("c", 100<<10)+") boss@edge.example", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: fromDomainsAre("edge.example")},
		{name: "header line of 2 MB without a line end", mailFrom: "x@spammer.example", msg: "From: boss@edge.example\r\nX-Big: " + strings.Repeat("z", 2<<20),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
	})
}

// ReadHeaders must hand over every field exactly as it stood, however
// long its lines: the first part of a line longer than the reader's
// buffer was once overwritten by the read of its rest.
func TestReadHeadersLongLines(t *testing.T) {
	for _, n := range []int{100, 64<<10 - 10, 64 << 10, 64<<10 + 1, 200 << 10} {
		long := "(" + strings.Repeat("c", n) + ") boss@edge.example"
		fields := []Header{{Name: "DKIM-Signature", Value: " v=1; d=x"}, {Name: "From", Value: " " + long}, {Name: "X-Folded", Value: " a\r\n\t" + long}, {Name: "To", Value: " u@example.org"}}
		var msg strings.Builder
		for _, f := range fields {
			msg.WriteString(f.Name + ":" + f.Value + "\r\n")
		}
		msg.WriteString("\r\nbody\r\n")
		var got []Header
		left, err := ReadHeaders(bufio.NewReaderSize(strings.NewReader(msg.String()), 64<<10), func(name, value string) {
			got = append(got, Header{Name: name, Value: value})
		})
		if err != nil || left != nil || len(got) != len(fields) {
			t.Fatalf("%d: %d fields, leftover %q, %v", n, len(got), left, err)
		}
		for i := range fields {
			if got[i] != fields[i] {
				t.Errorf("%d: field %d is %.60q…, want %.60q…", n, i, got[i].Name+":"+got[i].Value, fields[i].Name+":"+fields[i].Value)
			}
		}
	}
}

func TestEngineHostileRelayTrace(t *testing.T) {
	w := newHostileWorld(t)
	e := w.engine(t, "", "", "", Options{Rand: func() int { return 50 }})
	relay := "198.51.100.5"
	trace := func(origin string) string {
		helo, ip, _ := strings.Cut(origin, " ")
		return fmt.Sprintf("Received: from %s (%s [%s])\r\n\tby filter.example.org (Postfix) with ESMTPS id 4XYZ; Mon, 1 Jan 2024 10:00:01 +0000", helo, helo, ip)
	}
	forged := "Received: from out.example.org (out.example.org [203.0.113.10]) by mx.example.org (Postfix) with ESMTP id FAKE; Mon, 1 Jan 2024 09:00:00 +0000"
	origin := func(ip, errPart string) func(*testing.T, *Message) {
		return func(t *testing.T, m *Message) {
			t.Helper()
			o := m.Origin
			switch {
			case o == nil:
				t.Error("no origin")
			case errPart != "" && !strings.Contains(o.Err, errPart):
				t.Errorf("origin error %q, want %q", o.Err, errPart)
			case errPart == "" && o.IP.String() != ip:
				t.Errorf("origin %v (%s), want %s", o.IP, o.Err, ip)
			}
		}
	}
	runHostile(t, e, []hostileCase{
		{name: "trace missing, own From", ip: relay, mailFrom: "x@spammer.example", rcpt: "user@example.org",
			msg: hmsg("boss@example.org", "Hi.\r\n"), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders,
			check: origin("", "only 0 are present")},
		{name: "trace unparseable, own From", ip: relay, mailFrom: "x@spammer.example", rcpt: "user@example.org",
			msg: hmsg("boss@example.org", "Hi.\r\n", "Received: \x00\xff((("), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders,
			check: origin("", "cannot be read")},
		{name: "trace empty, own envelope", ip: relay, mailFrom: "boss@example.org", rcpt: "user@example.org",
			msg: hmsg("boss@example.org", "Hi.\r\n", "Received:"), action: config.ActionReject, rule: RuleEnvelopeForgery, stage: StageHeaders},
		{name: "forged own-server trace beneath the relay's", ip: relay, mailFrom: "x@spammer.example", rcpt: "user@example.org",
			msg: hmsg("boss@example.org", "Hi.\r\n", trace("spam.spammer.example 192.0.2.66"), forged), action: config.ActionReject, rule: RuleHeaderForgery,
			stage: StageHeaders, check: origin("192.0.2.66", "")},
		{name: "forged own-server trace beneath, own envelope", ip: relay, mailFrom: "boss@example.org", rcpt: "user@example.org",
			msg: hmsg("boss@example.org", "Hi.\r\n", trace("spam.spammer.example 192.0.2.66"), forged), action: config.ActionReject, rule: RuleEnvelopeForgery,
			stage: StageHeaders},
		{name: "forged trace naming the relay itself beneath the relay's", ip: relay, mailFrom: "x@spammer.example", rcpt: "user@example.org",
			msg: hmsg("boss@example.org", "Hi.\r\n", trace("spam.spammer.example 192.0.2.66"),
				"Received: from filter.example.org (filter.example.org [198.51.100.5]) by mx.example.org; Mon, 1 Jan 2024 09:00:00 +0000", forged),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders, check: origin("192.0.2.66", "")},
	})
}

// DNS faults through the engine: every check that needs DNS gets a
// temperror, and the configured action applies — tempfail by default,
// accept or quarantine when dns.on_temperror says so — never a reject and
// never a pass.
func TestEngineDNSFaults(t *testing.T) {
	type fault struct {
		name  string
		apply func(t *testing.T, w *hostileWorld, name string) string // makes name fail; returns the server to use
	}
	served := func(f dnstest.Fault) func(*testing.T, *hostileWorld, string) string {
		return func(_ *testing.T, w *hostileWorld, n string) string {
			w.dns.SetFault(n, f)
			return w.dns.Addr
		}
	}
	faults := []fault{
		{"SERVFAIL", served(dnstest.ServFail)},
		{"timeout", served(dnstest.Timeout)},
		{"garbage", served(dnstest.Garbage)},
		{"REFUSED", served(dnstest.Refused)},
		{"truncated, TCP fallback failing", func(t *testing.T, w *hostileWorld, n string) string {
			return truncatingProxy(t, w.dns.Addr, n)
		}},
	}
	type check struct {
		name     string
		failing  string // the name made to fail
		ip       string
		mailFrom string
		rcpt     string
		msg      func(w *hostileWorld) string
		rule     string
		stage    Stage
	}
	checks := []check{
		{name: "SPF of a protected domain", failing: "edge.example", ip: "192.0.2.66", mailFrom: "boss@edge.example", rcpt: "user@edge.example",
			msg: func(*hostileWorld) string { return hmsg("boss@edge.example", "Hi.\r\n") }, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "DMARC discovery", failing: "_dmarc.strict.example", ip: "192.0.2.66", mailFrom: "x@spammer.example", rcpt: "user@edge.example",
			msg: func(*hostileWorld) string { return hmsg("ceo@strict.example", "Hi.\r\n") }, rule: RuleDMARC, stage: StageBody},
		{name: "DKIM key of an own signature", failing: "sel._domainkey.example.org", ip: "192.0.2.66", mailFrom: "x@spammer.example", rcpt: "user@edge.example",
			msg: func(w *hostileWorld) string {
				return w.sign(t, hmsg("boss@example.org", "Hi.\r\n"), "example.org", "sel")
			}, rule: RuleHeaderForgery, stage: StageBody},
		{name: "DKIM key with p=reject and no SPF", failing: "sel._domainkey.strict.example", ip: "192.0.2.66", mailFrom: "x@spammer.example", rcpt: "user@edge.example",
			msg: func(w *hostileWorld) string {
				return w.message(t, "ceo@strict.example", "strict.example", "")
			}, rule: RuleDMARC, stage: StageBody},
		{name: "relay networks from SPF", failing: "_spf.cloud.example", ip: "198.51.102.7", mailFrom: "x@lists.example.net", rcpt: "user@cloudy.example",
			msg: func(*hostileWorld) string { return hmsg("x@lists.example.net", "Hi.\r\n") }, rule: RuleDirectDelivery, stage: StageRcpt},
	}
	actions := []struct {
		dns    string
		action config.Action
	}{
		{"", config.ActionTempFail},
		{`on_temperror = "accept"`, config.ActionAccept},
		{`on_temperror = "quarantine"`, config.ActionQuarantine},
	}
	for _, f := range faults {
		for _, c := range checks {
			for _, a := range actions {
				name := fmt.Sprintf("%s/%s/%s", f.name, c.name, a.action)
				t.Run(name, func(t *testing.T) {
					t.Parallel() // the timeouts are waiting, not work
					w := newHostileWorld(t)
					e := w.engineAt(t, f.apply(t, w, c.failing), a.dns)
					m, stage, err := e.Run(context.Background(), Transaction{
						Client:   Client{IP: netip.MustParseAddr(c.ip), Helo: "spam.spammer.example"},
						MailFrom: c.mailFrom, Rcpts: []string{c.rcpt}, Message: strings.NewReader(c.msg(w)),
					})
					checkDecided(t, m, stage, err)
					v := m.Verdict()
					if stage == StageRcpt {
						v = m.lastRcptVerdict()
					}
					// A tempfail ends the transaction where the check ran;
					// otherwise the message goes on to its end.
					wantStage := c.stage
					if a.action != config.ActionTempFail {
						wantStage = StageBody
					}
					if v.Action != a.action || (a.action != config.ActionAccept && v.Rule != c.rule) || stage != wantStage {
						t.Errorf("got %s rule=%q at %s, want %s rule=%q at %s\n%s", v.Action, v.Rule, stage, a.action, c.rule, wantStage, m.outcomeDump())
					}
					var temperror bool
					for _, o := range m.Outcomes {
						temperror = temperror || (o.Rule == c.rule && o.Result == "temperror")
					}
					if !temperror {
						t.Errorf("no temperror outcome for %s:\n%s", c.rule, m.outcomeDump())
					}
				})
			}
		}
	}
}

// engineAt is w.engine with another DNS server and dns lines.
func (w *hostileWorld) engineAt(t *testing.T, server, dnsLines string) *Engine {
	t.Helper()
	cfg, err := config.ParseConfig("test.toml", []byte(fmt.Sprintf(engineConfig, "", server, dnsLines, "")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers, Timeout: cfg.DNS.Timeout.Duration, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(context.Background(), cfg, res, Options{Rand: func() int { return 50 }, NoRefresh: true})
	t.Cleanup(e.Close)
	return e
}

// truncatingProxy is a DNS server on UDP only that passes queries on to
// upstream, except that for failing and the names below it every answer
// is truncated. Nothing listens on its TCP port, so the resolver's TCP
// fallback fails too.
func truncatingProxy(t *testing.T, upstream, failing string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	failing = dns.Fqdn(strings.ToLower(failing))
	client := &dns.Client{Timeout: time.Second}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			q := strings.ToLower(req.Question[0].Name)
			if q == failing || strings.HasSuffix(q, "."+failing) {
				m := new(dns.Msg)
				m.SetReply(req)
				m.Truncated = true
				w.WriteMsg(m)
				return
			}
			if resp, _, err := client.Exchange(req, upstream); err == nil {
				w.WriteMsg(resp)
			}
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// The resolver down altogether: mail from the Internet for a protected
// domain is tempfailed at the first check whose answer DNS could change,
// never rejected for want of an answer. An own-domain From with a foreign
// envelope and no signature needs no answer: nothing could align it.
func TestEngineResolverDown(t *testing.T) {
	w := newHostileWorld(t)
	e := w.engine(t, "", "", "", Options{Rand: func() int { return 50 }})
	w.dns.Stop()
	runHostile(t, e, []hostileCase{
		{name: "own envelope", mailFrom: "boss@edge.example", msg: hmsg("boss@edge.example", "Hi.\r\n"),
			action: config.ActionTempFail, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "own From, foreign envelope", mailFrom: "x@spammer.example", msg: hmsg("boss@edge.example", "Hi.\r\n"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageHeaders},
		{name: "own From, own-organisation envelope", mailFrom: "x@mail.edge.example", msg: hmsg("boss@edge.example", "Hi.\r\n"),
			action: config.ActionTempFail, rule: RuleEnvelopeForgery, stage: StageMailFrom},
		{name: "partner mail", mailFrom: "alice@partner.example", msg: w.sign(t, hmsg("alice@partner.example", "Hi.\r\n"), "partner.example", "sel"),
			action: config.ActionTempFail, rule: RuleDMARC, stage: StageBody},
	})
}

// Ten thousand messages whose every lookup fails, through the whole
// Message path (SPF, DKIM key, DMARC): no descriptor or goroutine may be
// left behind (OpenDKIM once leaked DNS sockets until it ran out).
func TestEngineFailingLookupsDoNotLeak(t *testing.T) {
	w := newHostileWorld(t)
	for _, n := range []string{"servfail.example", "garbage.example"} {
		w.dns.MustAdd(t, "_dmarc."+n+`. IN TXT "v=DMARC1; p=reject"`)
	}
	e := w.engine(t, "", `on_temperror = "accept"`, "", Options{Rand: func() int { return 50 }})
	// A second engine whose resolver has no server at all.
	cfg := *e.Config()
	cfg.DNS.Servers = []string{dnstest.DeadAddr}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	down := NewEngine(context.Background(), &cfg, res, Options{NoRefresh: true})
	t.Cleanup(down.Close)

	msgs := map[string]string{}
	for _, d := range []string{"servfail.example", "garbage.example"} {
		msgs[d] = hmsg("x@"+d, "Hi.\r\n", "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d="+d+"; s=sel; h=from; bh=AAAA; b=AAAA")
	}
	run := func(i int) {
		d := []string{"servfail.example", "garbage.example"}[i%2]
		eng := e
		if i%5 == 4 {
			eng = down
		}
		m, stage, err := eng.Run(context.Background(), Transaction{
			Client:   Client{IP: netip.MustParseAddr("192.0.2.66"), Helo: "spam.spammer.example"},
			MailFrom: "x@" + d, Rcpts: []string{"user@edge.example"}, Message: strings.NewReader(msgs[d]),
		})
		if err != nil || stage != StageBody || m.Verdict().Action != config.ActionAccept || m.SPF.Result != dnsauth.TempError ||
			len(m.DKIM) != 1 || m.DKIM[0].Result != dnsauth.TempError || len(m.DMARC) != 1 || m.DMARC[0].Result != dnsauth.TempError {
			t.Fatalf("message %d: %v %s %+v\nSPF %+v\nDKIM %+v\nDMARC %+v\n%s", i, err, stage, m.Verdict(), m.SPF, m.DKIM, m.DMARC, m.outcomeDump())
		}
	}
	for i := 0; i < 20; i++ {
		run(i) // warm up
	}
	time.Sleep(50 * time.Millisecond)
	before := dnstest.CountResources(t)
	const n = 10000
	for i := 0; i < n; i++ {
		run(i)
	}
	dnstest.ExpectNoLeak(t, before, 2, 3*time.Second, fmt.Sprintf("%d messages with failing lookups", n))
}

// A field name is printable ASCII without spaces: a line that starts
// with white space before any field, or a "name" with a space, starts
// the body (it once became a field called " stray"). White space may
// follow the name before the colon (RFC 5322 §4.5); the name is passed
// on as written. A read error is reported, never taken for the end of the
// message.
func TestReadHeadersFieldNames(t *testing.T) {
	for msg, want := range map[string]string{
		" stray: x\nFrom: a\n":  "",
		"Bad Name: x\n":         "",
		"From: a\nTo: b\n\n":    "From,To",
		"From : a\nTo\t: b\n\n": "From ,To\t",
		" : x\n":                "",
		"From \x01: x\n":        "",
	} {
		var names []string
		if _, err := ReadHeaders(bufio.NewReader(strings.NewReader(msg)), func(n, _ string) { names = append(names, n) }); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%q: fields %q, want %q", msg, got, want)
		}
	}
	broken := io.MultiReader(strings.NewReader("From: a\nSubject: cut"), iotest.ErrReader(errors.New("disk gone")))
	if _, err := ReadHeaders(bufio.NewReader(broken), func(string, string) {}); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("read error: %v", err)
	}
}
