package milter

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
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

// Hostile mail through the real daemon. The milters in use today have a
// record of dying on such input — a From without a domain, "ARC-Seal: x",
// a malformed Ed25519 key, DNS sockets leaking until the files ran out —
// and a milter that dies makes the MTA tempfail or accept everything.
// Every case here must end in the verdict the policy asks for, the same
// one `spoofguard check` gives, and the daemon must go on serving.

// hostileDaemonZone adds to daemonZone the records a hostile sender or
// a broken DNS shows: malformed, revoked and oversized DKIM keys of the
// own edge domain, broken and duplicated SPF and DMARC records, and a
// protected domain whose own SPF record is broken.
const hostileDaemonZone = daemonZone + `
_dmarc.edge.example. IN TXT "v=DMARC1; p=none"
broken.example. IN TXT "v=spf1 ip4:999.1.1.1 -all"
_dmarc.broken.example. IN TXT "v=DMARC1; p=bogus; pct=many"
twice.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
twice.example. IN TXT "v=spf1 -all"
_dmarc.twice.example. IN TXT "v=DMARC1; p=none"
_dmarc.twice.example. IN TXT "v=DMARC1; p=reject"
brokenown.example. IN TXT "v=spf1 ip4:192.0.2.66 ip4:999.1.1.1 -all"
badkey-ed._domainkey.edge.example. IN TXT "v=DKIM1; k=ed25519; p=AAAA"
badkey-rsa._domainkey.edge.example. IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA!!not-base64!!"
revoked._domainkey.edge.example. IN TXT "v=DKIM1; k=ed25519; p="
sampled.example. IN TXT "v=spf1 -all"
_dmarc.sampled.example. IN TXT "v=DMARC1; p=reject; pct=50"
`

const hostileDaemonConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.example.org"
[log]
format = "json"
[dns]
servers = ["%s"]
timeout = "300ms"
attempts = 1
%s
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
[[domain]]
name = "brokenown.example"
%s
`

// fixedKey is the Ed25519 key of a signing domain: derived from its name,
// so that signed inputs kept in the fuzz corpus verify in every run.
func fixedKey(domain string) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, domain)
	return ed25519.NewKeyFromSeed(seed)
}

// hostileRSA is the RSA key the hostile worlds sign with (selector
// "rsa"): made once per test binary, 2048-bit keys take a while.
var (
	hostileRSAOnce sync.Once
	hostileRSA     *rsa.PrivateKey
	hostileRSAErr  error
)

// newHostileDaemon starts a daemon on the hostile zone. dnsLines go into
// [dns], extra at the end of the file. partner.example and edge.example
// sign with fixed Ed25519 keys (selector "sel") and an RSA key ("rsa");
// w.key is partner.example's, as in newDaemonWorld.
func newHostileDaemon(tb testing.TB, dnsLines, extra string) *daemonWorld {
	tb.Helper()
	return newHostileDaemonWith(tb, dnsLines, extra, policy.Options{})
}

// newHostileDaemonWith is newHostileDaemon whose engines get opts.
func newHostileDaemonWith(tb testing.TB, dnsLines, extra string, opts policy.Options) *daemonWorld {
	tb.Helper()
	w := &daemonWorld{t: tb, dns: dnstest.New(tb, hostileDaemonZone), logs: &syncBuffer{}, key: fixedKey("partner.example")}
	hostileRSAOnce.Do(func() { hostileRSA, hostileRSAErr = rsa.GenerateKey(rand.Reader, 2048) })
	if hostileRSAErr != nil {
		tb.Fatal(hostileRSAErr)
	}
	der, err := x509.MarshalPKIXPublicKey(&hostileRSA.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range []string{"partner.example", "edge.example"} {
		pub := fixedKey(d).Public().(ed25519.PublicKey)
		w.dns.MustAdd(tb, `sel._domainkey.`+d+`. IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
		w.dns.MustAdd(tb, `rsa._domainkey.`+d+`. IN TXT "v=DKIM1; k=rsa; p=`+dnstest.TXTStrings(base64.StdEncoding.EncodeToString(der))+`"`)
		w.dns.MustAdd(tb, `huge._domainkey.`+d+`. IN TXT "v=DKIM1; k=rsa; p=`+dnstest.TXTStrings(strings.Repeat("QUFB", 4000))+`"`)
	}
	w.cfgPath = filepath.Join(tb.TempDir(), "spoofguard.toml")
	cfg := fmt.Sprintf(hostileDaemonConfig, w.dns.Addr, dnsLines, extra)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	w.start(opts)
	return w
}

// hostileMsg builds a CRLF message with the extra header lines on top,
// then From (left out when from is "-"), To, Subject, Date, Message-ID,
// and the body.
func hostileMsg(from, body string, extra ...string) string {
	var b strings.Builder
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if from != "-" {
		b.WriteString("From: " + from + "\r\n")
	}
	b.WriteString("To: user@edge.example\r\nSubject: hello\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <h@test>\r\n\r\n" + body)
	return b.String()
}

// signAs DKIM-signs msg as domain with selector: "rsa" signs with the RSA
// key, anything else with the domain's Ed25519 key, so that whatever the
// selector's record says — malformed, revoked, huge — is what is tested.
func signAs(tb testing.TB, msg, domain, selector string) string {
	tb.Helper()
	var signer crypto.Signer = fixedKey(domain)
	if selector == "rsa" {
		signer = hostileRSA
	}
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out.String()
}

// relayTrace is the filtering relay's own Received header naming the
// client that connected to it ("helo ip").
func relayTrace(origin string) string {
	helo, ip, _ := strings.Cut(origin, " ")
	return fmt.Sprintf("Received: from %s (%s [%s])\r\n\tby filter.example.org (Postfix) with ESMTPS id 4XYZ\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000", helo, helo, ip)
}

type hostileMessage struct {
	name           string
	msg            string
	client         uint8 // index into fuzzClients; 0x80: authenticated
	mailFrom, rcpt string
	want           string // mtaResult.summary()
}

// The envelopes of the cases: a spammer on the Internet writing to the
// edge-MX domain, and mail that came through the filtering relay.
const (
	spammer = 0
	relay   = 1
)

// hostileMessages are the hostile cases, each with the verdict the
// policy asks for. They also seed FuzzSession.
func hostileMessages(tb testing.TB, w *daemonWorld) []hostileMessage {
	own := func(name, from, want string, extra ...string) hostileMessage {
		return hostileMessage{name, hostileMsg(from, "Body.\r\n", extra...), spammer, "x@spammer.example", "user@edge.example", want}
	}
	partnerSigned := func(extra ...string) string {
		return signAs(tb, hostileMsg("Alice <alice@partner.example>", "Hello.\r\n", extra...), "partner.example", "sel")
	}
	ownSigned := func(selector string) string {
		return signAs(tb, hostileMsg("Boss <boss@edge.example>", "Hello.\r\n"), "edge.example", selector)
	}
	viaRelay := func(name, msg, mailFrom, want string) hostileMessage {
		return hostileMessage{name, msg, relay, mailFrom, "user@example.org", want}
	}
	fromSpammer := func(name, msg, mailFrom, want string) hostileMessage {
		return hostileMessage{name, msg, spammer, mailFrom, "user@edge.example", want}
	}
	manySigs := func(top string, n int) string {
		var extra []string
		for i := 0; i < n; i++ {
			extra = append(extra, fmt.Sprintf("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=edge.example; s=s%d; h=from; bh=AAAA; b=AAAA", i))
		}
		return top + hostileMsg("boss@edge.example", "Hello.\r\n", extra...)
	}
	thousands := make([]string, 5000)
	for i := range thousands {
		thousands[i] = fmt.Sprintf("X-Filler-%d: %d", i, i)
	}
	long := "X-Long: " + strings.Repeat("a", 200<<10)
	return []hostileMessage{
		// From headers.
		own("empty From", "", "eom accept"),
		own("group From", "Undisclosed recipients:;", "eom accept"),
		own("no From", "-", "eom accept"),
		own("two From, one own", "a@spammer.example", "eoh reject", "From: boss@edge.example"),
		own("address without a domain (CVE-2021-34555)", "<ceo@>", "eom accept"),
		own("bare local part", "ceo", "eom accept"),
		own("own address in comments", "(the boss) boss(x)@(y)edge.example (z)", "eoh reject"),
		own("own address with a quoted local part", `"the boss"@edge.example`, "eoh reject"),
		own("own address after an encoded word", "=?utf-8?q?Gro=C3=9Fe_Chef?= <boss@edge.example>", "eoh reject"),
		own("own address inside an encoded word", "=?utf-8?q?boss=40edge.example?= <x@spammer.example>", "eom quarantine"), // display-name
		own("own address with a trailing dot", "boss@edge.example.", "eoh reject"),
		own("own address in capitals", "BOSS@EDGE.EXAMPLE", "eoh reject"),
		own("own subdomain", "boss@mail.edge.example", "eoh reject"),
		own("encoded word hiding an own domain", "<=?utf-8?q?boss=40edge.example?=@spammer.example>", "eoh reject"),
		own("invalid UTF-8 display name", "\xff\xfe\xfd <boss@edge.example>", "eoh reject"),
		own("invalid UTF-8 in the address", "bo\xffss@edge.example", "eoh reject"),
		own("NUL byte after the own address", "boss@edge.example\x00x@spammer.example", "eoh reject"),
		fromSpammer("NUL bytes in the body", hostileMsg("a@spammer.example", "a\x00b\r\n\x00\r\n"), "x@spammer.example", "eom accept"),
		// ARC headers are not used, and garbage in them changes nothing.
		viaRelay("garbage ARC on signed partner mail", relayTrace("mail.partner.example 192.0.2.30")+"\r\n"+
			partnerSigned("ARC-Seal: x", "ARC-Message-Signature: ;;;=;", "ARC-Authentication-Results: i=x; \x01"),
			"alice@partner.example", "eom accept"),
		own("garbage ARC claiming a pass for own From", "boss@edge.example", "eoh reject",
			"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=edge.example; s=x; b=x", "ARC-Authentication-Results: i=1; mx.example.org; dmarc=pass", "ARC-Seal: x"),
		// DKIM signatures and keys.
		own("DKIM-Signature with empty tags", "boss@edge.example", "eoh reject", "DKIM-Signature: v=; a=; d=; s=; h=; bh=; b="),
		own("DKIM-Signature with repeated tags", "boss@edge.example", "eoh reject",
			"DKIM-Signature: v=1; a=ed25519-sha256; d=edge.example; d=edge.example; s=sel; h=from; bh=AAAA; b=AAAA"),
		fromSpammer("forty bad signatures on own From", manySigs("", 40), "x@spammer.example", "eom reject"),
		viaRelay("good signature on top of forty bad ones", relayTrace("spam.spammer.example 192.0.2.66")+"\r\n"+
			signAs(tb, manySigs("", 40), "edge.example", "sel"), "x@spammer.example", "eom accept"),
		fromSpammer("own From signed with a good RSA key", ownSigned("rsa"), "x@spammer.example", "eom accept"),
		fromSpammer("malformed Ed25519 key", ownSigned("badkey-ed"), "x@spammer.example", "eom reject"),
		fromSpammer("malformed RSA key", ownSigned("badkey-rsa"), "x@spammer.example", "eom reject"),
		fromSpammer("revoked key", ownSigned("revoked"), "x@spammer.example", "eom reject"),
		fromSpammer("huge key record", ownSigned("huge"), "x@spammer.example", "eom reject"),
		fromSpammer("partner signed with a huge key, SPF fails", signAs(tb, hostileMsg("alice@partner.example", "Hi.\r\n"), "partner.example", "huge"),
			"alice@partner.example", "eom quarantine"),
		// Malformed and multiple SPF and DMARC records.
		fromSpammer("malformed SPF and DMARC records", hostileMsg("x@broken.example", "Hi.\r\n"), "x@broken.example", "eom accept"),
		fromSpammer("two SPF and two DMARC records", hostileMsg("x@twice.example", "Hi.\r\n"), "x@twice.example", "eom accept"),
		fromSpammer("protected domain with a broken SPF record", hostileMsg("x@brokenown.example", "Hi.\r\n"), "x@brokenown.example", "mail reject"),
		// Sizes.
		viaRelay("one 200 KB header on signed partner mail", relayTrace("mail.partner.example 192.0.2.30")+"\r\n"+partnerSigned(long),
			"alice@partner.example", "eom accept"),
		own("one 200 KB header on own From", "boss@edge.example", "eoh reject", long),
		viaRelay("5000 headers on signed partner mail", relayTrace("mail.partner.example 192.0.2.30")+"\r\n"+partnerSigned(thousands...),
			"alice@partner.example", "eom accept"),
		own("5000 headers on own From", "boss@edge.example", "eoh reject", thousands...),
		viaRelay("300 KB body line", relayTrace("mail.partner.example 192.0.2.30")+"\r\n"+
			signAs(tb, hostileMsg("alice@partner.example", strings.Repeat("b", 300<<10)+"\r\n"), "partner.example", "sel"),
			"alice@partner.example", "eom accept"),
		// Relayed mail and its trace header.
		viaRelay("relay trace missing, own From", hostileMsg("boss@example.org", "Hi.\r\n"), "x@spammer.example", "eoh reject"),
		viaRelay("relay trace missing, signed partner mail", partnerSigned(), "alice@partner.example", "eom accept"),
		viaRelay("relay trace unparseable, own From", hostileMsg("boss@example.org", "Hi.\r\n", "Received: garbage (((\x00"), "x@spammer.example", "eoh reject"),
		viaRelay("forged trace beneath the relay's claims the own server", hostileMsg("boss@example.org", "Hi.\r\n",
			relayTrace("spam.spammer.example 192.0.2.66"),
			"Received: from out.example.org (out.example.org [203.0.113.10]) by mx.example.org (Postfix) with ESMTP id FAKE; Mon, 1 Jan 2024 09:00:00 +0000"),
			"boss@example.org", "eoh reject"),
		viaRelay("forged own envelope beneath a forged trace", hostileMsg("x@spammer.example", "Hi.\r\n",
			relayTrace("spam.spammer.example 192.0.2.66"),
			"Received: from out.example.org (out.example.org [203.0.113.10]) by mx.example.org (Postfix) with ESMTP id FAKE; Mon, 1 Jan 2024 09:00:00 +0000"),
			"boss@example.org", "eoh reject"),
	}
}

func TestDaemonHostileInput(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	addr := w.d.Addr().String()
	normal := hostileMsg("x@spammer.example", "Normal.\r\n")
	for _, c := range hostileMessages(t, w) {
		t.Run(c.name, func(t *testing.T) {
			ip, helo := fuzzClients[c.client].ip, fuzzClients[c.client].helo
			rcpts := strings.Split(c.rcpt, ",")
			fields, body := mtaSplit([]byte(c.msg))
			got := sendFields(t, addr, ip, helo, "", c.mailFrom, rcpts, fields, body)
			checkMTAResult(t, got)
			if got.summary() != c.want {
				t.Errorf("daemon: %s, want %s", got.summary(), c.want)
			}
			if check := checkPath(t, w, ip, helo, "", c.mailFrom, rcpts, []byte(c.msg)); check != c.want {
				t.Errorf("check path: %s, want %s", check, c.want)
			}
			// The daemon goes on serving.
			after := send(t, addr, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"}, normal)
			if after.summary() != "eom accept" {
				t.Errorf("normal message afterwards: %s", after.summary())
			}
		})
	}
	if n := settledSessions(w); n != 0 {
		t.Errorf("%d sessions open after the last one closed", n)
	}
}

// settledSessions is spoofguard_sessions_open once the daemon has seen
// the connections close (it learns of a close a moment after the client).
func settledSessions(w *daemonWorld) int64 {
	deadline := time.Now().Add(5 * time.Second)
	for w.d.metrics.sessions.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return w.d.metrics.sessions.Load()
}

// An MTA may reuse a milter connection for its next SMTP session
// (SMFIC_QUIT_NC). It is still one connection: the gauge once counted it
// once per SMTP session and never came back down.
func TestDaemonReusedConnectionCountedOnce(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	s, err := gomilter.NewClient("tcp", w.d.Addr().String()).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	msg := hostileMsg("x@spammer.example", "Hi.\r\n")
	for i := 0; i < 3; i++ {
		r := sendOn(t, s, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"}, msg)
		if r.summary() != "eom accept" {
			t.Fatalf("session %d: %s", i, r.summary())
		}
		if n := w.d.metrics.sessions.Load(); n != 1 {
			t.Errorf("after SMTP session %d on one milter connection: %d sessions open, want 1", i+1, n)
		}
	}
	s.Close()
	if n := settledSessions(w); n != 0 {
		t.Errorf("%d sessions open after the connection closed", n)
	}
}

// A forged Authentication-Results header with our authserv-id must never
// reach the mailbox, however it is spelled (RFC 8601 §5); foreign ones
// stay. The deletions name the fields by their position among the
// Authentication-Results fields, counted from 1, last first.
func TestDaemonStripsForgedAuthResults(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	addr := w.d.Addr().String()
	forged := []string{
		"Authentication-Results: mx.example.org; dmarc=pass header.from=edge.example",
		"Authentication-Results: MX.Example.ORG; spf=pass smtp.mailfrom=edge.example",
		"Authentication-Results: (our server) mx.example.org (really); dkim=pass header.d=edge.example",
		"Authentication-Results: mx.example.org 1; dkim=pass",
		"Authentication-Results: mx.example.org;\r\n\tdmarc=pass (folded)",
		"Authentication-Results:mx.example.org;none",
	}
	foreign := []string{
		"Authentication-Results: other.example; spf=fail",
		"Authentication-Results: mx.example.org.evil.example; dmarc=pass",
	}
	test := func(name string, ip, mailFrom, rcpt string, build func(extra ...string) string, want string) {
		t.Run(name, func(t *testing.T) {
			// Among the Authentication-Results fields, 1, 3, 5, 6, 7 and 8
			// claim our authserv-id; 2 and 4 do not.
			extra := []string{forged[0], foreign[0], forged[1], foreign[1], forged[2], "X-Other: 1", forged[3], forged[4], forged[5]}
			r := send(t, addr, ip, "helo.example", "", mailFrom, []string{rcpt}, build(extra...))
			if r.summary() != want {
				t.Fatalf("got %s, want %s", r.summary(), want)
			}
			var deleted []int
			for _, m := range r.mods {
				if m.Type == gomilter.ActionChangeHeader && strings.EqualFold(m.HeaderName, "Authentication-Results") {
					if m.HeaderValue != "" {
						t.Errorf("changed instead of deleted: %+v", m)
					}
					deleted = append(deleted, int(m.HeaderIndex))
				}
			}
			if fmt.Sprint(deleted) != "[8 7 6 5 3 1]" {
				t.Errorf("deleted Authentication-Results %v, want [8 7 6 5 3 1]", deleted)
			}
			ours := r.header("Authentication-Results")
			if len(ours) != 1 || authres.AuthservID(ours[0]) != "mx.example.org" {
				t.Errorf("our Authentication-Results: %q", ours)
			}
		})
	}
	test("accepted partner mail", "198.51.100.5", "alice@partner.example", "user@example.org", func(extra ...string) string {
		return relayTrace("mail.partner.example 192.0.2.30") + "\r\n" +
			signAs(t, hostileMsg("alice@partner.example", "Hi.\r\n", extra...), "partner.example", "sel")
	}, "eom accept")
	test("quarantined partner mail", "198.51.100.5", "alice@partner.example", "user@example.org", func(extra ...string) string {
		return relayTrace("spam.spammer.example 192.0.2.66") + "\r\n" + hostileMsg("alice@partner.example", "Hi.\r\n", extra...)
	}, "eom quarantine")
}

// The MTA abandons sessions at every point of a transaction; whatever it
// leaves behind — a DKIM verification waiting for the body, a transaction
// half done — must be freed: no session counted open, no goroutine or
// descriptor left.
func TestDaemonAbandonedSessions(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	addr := w.d.Addr().String()
	msg := relayTrace("mail.partner.example 192.0.2.30") + "\r\n" +
		signAs(t, hostileMsg("alice@partner.example", strings.Repeat("Body line.\r\n", 2000)), "partner.example", "sel")
	fields, body := mtaSplit([]byte(msg))
	// A signature whose key lookup never gets an answer: the verification
	// goroutine is waiting on DNS when the session goes away.
	w.dns.SetFault("slow._domainkey.partner.example", dnstest.Timeout)
	slowFields, _ := mtaSplit([]byte(relayTrace("mail.partner.example 192.0.2.30") + "\r\n" +
		signAs(t, hostileMsg("alice@partner.example", "Hi.\r\n"), "partner.example", "slow")))
	start := func(opts ...gomilter.Option) *gomilter.ClientSession {
		opts = append([]gomilter.Option{gomilter.WithReadTimeout(10 * time.Second)}, opts...)
		s, err := gomilter.NewClient("tcp", addr, opts...).Session(gomilter.NewMacroBag())
		if err != nil {
			t.Fatal(err)
		}
		s.Conn("filter.example.org", gomilter.FamilyInet, 1, "198.51.100.5")
		s.Helo("filter.example.org")
		s.Mail("alice@partner.example", "")
		s.Rcpt("user@example.org", "")
		return s
	}
	headers := func(s *gomilter.ClientSession) {
		s.DataStart()
		for _, f := range fields {
			s.HeaderField(f.name, f.value, nil)
		}
		s.HeaderEnd()
	}
	ways := []struct {
		name    string
		abandon func()
	}{
		{"disconnect after DATA", func() {
			s := start()
			s.DataStart()
			s.Close()
		}},
		{"disconnect after the headers (DKIM started)", func() {
			s := start()
			headers(s)
			s.Close()
		}},
		{"disconnect while the key lookup hangs", func() {
			s := start()
			s.DataStart()
			for _, f := range slowFields {
				s.HeaderField(f.name, f.value, nil)
			}
			s.HeaderEnd()
			s.BodyChunk([]byte("Hi.\r\n"))
			s.Close()
		}},
		{"disconnect mid-body", func() {
			s := start()
			headers(s)
			s.BodyChunk(body[:len(body)/2])
			s.Close()
		}},
		{"connection killed mid-body", func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			s := start(gomilter.WithDialer(connDialer{c}))
			headers(s)
			s.BodyChunk(body[:len(body)/3])
			c.(*net.TCPConn).SetLinger(0) // a reset, not a goodbye
			c.Close()
		}},
		{"abort mid-body, then a new transaction", func() {
			s := start()
			headers(s)
			s.BodyChunk(body[:len(body)/2])
			if err := s.Abort(nil); err != nil {
				t.Fatal(err)
			}
			r := sendParts(t, s, "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"}, fields, body)
			if r.summary() != "eom accept" {
				t.Errorf("transaction after abort: %s", r.summary())
			}
			s.Close()
		}},
	}
	settle := func(g0 int) int {
		deadline := time.Now().Add(5 * time.Second)
		for {
			g := goruntime.NumGoroutine()
			if (g <= g0+2 && w.d.metrics.sessions.Load() == 0) || time.Now().After(deadline) {
				return g
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Warm up: the first sessions allocate what stays (resolver sockets
	// pooled by the runtime, the log buffer).
	for _, way := range ways {
		way.abandon()
	}
	settle(1 << 30)
	time.Sleep(100 * time.Millisecond)
	before := dnstest.CountResources(t)
	fds0, g0 := before.FDs, before.Goroutines
	const rounds = 200 // × 6 ways = 1,200 abandoned sessions
	for i := 0; i < rounds; i++ {
		for _, way := range ways {
			way.abandon()
		}
	}
	g1 := settle(g0)
	fds1 := dnstest.CountResources(t).FDs
	open := w.d.metrics.sessions.Load()
	t.Logf("%d abandoned sessions: fds %d → %d, goroutines %d → %d, sessions open %d", rounds*len(ways), fds0, fds1, g0, g1, open)
	if open != 0 {
		t.Errorf("spoofguard_sessions_open = %d after every session ended", open)
	}
	if g1 > g0+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines %d → %d:\n%s", g0, g1, buf[:goruntime.Stack(buf, true)])
	}
	if fds1 > fds0+4 {
		t.Errorf("descriptors %d → %d", fds0, fds1)
	}
	var m bytes.Buffer
	w.d.Metrics().WriteTo(&m)
	if !strings.Contains(m.String(), "spoofguard_sessions_open 0") {
		t.Errorf("metrics:\n%s", m.String())
	}
}

// connDialer hands go-milter a connection the test holds, so the test can
// kill it the way a crashing MTA would.
type connDialer struct{ c net.Conn }

func (d connDialer) Dial(string, string) (net.Conn, error) { return d.c, nil }

// DNS faults through the daemon: the MTA gets 451 4.7.1 where a check
// could not be made (or what dns.on_temperror says instead), never a 550,
// and the daemon answers normally again once DNS is back.
func TestDaemonDNSFaults(t *testing.T) {
	ownEnvelope := func(w *daemonWorld) mtaResult {
		return send(t, w.d.Addr().String(), "192.0.2.66", "spam.spammer.example", "", "boss@edge.example", []string{"user@edge.example"},
			hostileMsg("boss@edge.example", "Hi.\r\n"))
	}
	partner := func(w *daemonWorld) mtaResult {
		return send(t, w.d.Addr().String(), "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"},
			relayTrace("mail.partner.example 192.0.2.30")+"\r\n"+signAs(t, hostileMsg("alice@partner.example", "Hi.\r\n"), "partner.example", "sel"))
	}
	for _, c := range []struct {
		name     string
		dnsLines string
		fault    func(w *daemonWorld)
		send     func(w *daemonWorld) mtaResult
		want     string
	}{
		{"resolver down, own envelope", "", func(w *daemonWorld) { w.dns.Stop() }, ownEnvelope, "mail tempfail"},
		{"resolver down, own envelope, on_temperror = accept", `on_temperror = "accept"`, func(w *daemonWorld) { w.dns.Stop() }, ownEnvelope, "eom accept"},
		{"resolver down, own envelope, on_temperror = quarantine", `on_temperror = "quarantine"`, func(w *daemonWorld) { w.dns.Stop() }, ownEnvelope, "eom quarantine"},
		{"DKIM key times out, partner mail", "", func(w *daemonWorld) {
			w.dns.SetFault("sel._domainkey.partner.example", dnstest.Timeout)
			w.dns.SetFault("partner.example", dnstest.ServFail) // SPF and DMARC too
		}, partner, "eom tempfail"},
		{"garbage answers, partner mail, on_temperror = quarantine", `on_temperror = "quarantine"`, func(w *daemonWorld) {
			w.dns.SetFault("partner.example", dnstest.Garbage)
		}, partner, "eom quarantine"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newHostileDaemon(t, c.dnsLines, "")
			c.fault(w)
			r := c.send(w)
			checkMTAResult(t, r)
			if r.summary() != c.want {
				t.Errorf("got %s, want %s", r.summary(), c.want)
			}
			if r.act != nil && r.act.SMTPCode == 451 && !strings.HasPrefix(r.act.SMTPReply, "451 4.7.1 ") {
				t.Errorf("tempfail reply %q", r.act.SMTPReply)
			}
			// DNS back: the same message is judged on its merits.
			w.dns.Restart()
			for _, n := range []string{"sel._domainkey.partner.example", "partner.example"} {
				w.dns.SetFault(n, dnstest.NoFault)
			}
			if r := c.send(w); r.summary() == "mail tempfail" || r.summary() == "eoh tempfail" || r.summary() == "eom tempfail" {
				t.Errorf("after DNS recovered: %s", r.summary())
			}
		})
	}
}

// A verdict header written by the sender ("X-Spoofguard: accept") must
// not reach the mailbox beside ours: Sieve rules and filters downstream
// act on it, and would then act on the forger's word (the same trust
// problem as forged Authentication-Results, CVE-2019-20790's family).
func TestDaemonStripsForgedVerdictHeader(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	msg := relayTrace("mail.partner.example 192.0.2.30") + "\r\n" + signAs(t, hostileMsg("alice@partner.example", "Hi.\r\n",
		"X-Spoofguard: accept", "x-spoofguard: accept (report-only, not enforced)", "X-Spoofguard-Other: kept"), "partner.example", "sel")
	r := send(t, w.d.Addr().String(), "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"}, msg)
	if r.summary() != "eom accept" {
		t.Fatalf("got %s", r.summary())
	}
	var deleted []string
	for _, m := range r.mods {
		if m.Type == gomilter.ActionChangeHeader && m.HeaderValue == "" {
			deleted = append(deleted, fmt.Sprintf("%s[%d]", strings.ToLower(m.HeaderName), m.HeaderIndex))
		}
	}
	if fmt.Sprint(deleted) != "[x-spoofguard[2] x-spoofguard[1]]" {
		t.Errorf("deleted %v, want both incoming X-Spoofguard fields, last first", deleted)
	}
	if v := r.header("X-Spoofguard"); len(v) != 1 {
		t.Errorf("our verdict header: %q", v)
	}
}

// A bug that panics on some message must cost that transaction a
// temporary failure, not the daemon its life: a panic in a session's
// goroutine would otherwise end the process, and the MTA would tempfail
// or accept every message until it was restarted. The panic is injected
// through the engine's pct sampling, which runs at the end of the body
// for a DMARC failure of a pct=50 domain.
// Postfix assigns the queue id only once a recipient is accepted, so it
// may first arrive with RCPT TO (or later); the log lines must carry it
// from where it first appears.
func TestDaemonQueueIDFromRcpt(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	macros := gomilter.NewMacroBag()
	s, err := gomilter.NewClient("tcp", w.d.Addr().String(), gomilter.WithReadTimeout(10*time.Second)).Session(macros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Conn("spam.spammer.example", gomilter.FamilyInet, 40000, "192.0.2.66"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("spam.spammer.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail("x@spammer.example", ""); err != nil {
		t.Fatal(err)
	}
	macros.Set(gomilter.MacroQueueId, "4RCPTQUEUE")
	a, err := s.Rcpt("user@example.org", "") // direct delivery: refused
	if err != nil || !isReject(a, 550) {
		t.Fatalf("rcpt: %+v %v", a, err)
	}
	s.Abort(nil)
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(w.logs.String(), `"queue":"4RCPTQUEUE"`) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(w.logs.String(), `"queue":"4RCPTQUEUE"`); n < 2 {
		t.Errorf("queue id in %d log lines, want the refused recipient's and the message's:\n%s", n, w.logs.String())
	}
}

// After a panic in a stage the MTA expects no reply to (a header, a body
// chunk), the transaction's state is gone: every later stage that replies
// must answer 451 without running the session's code, which would
// otherwise accept the message unchecked at end of body.
func TestGuardDropsTransactionAfterSilentPanic(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	g := &guarded{s: &session{d: w.d}}
	resp, err := g.run("header", false, func() (*gomilter.Response, error) { panic("injected fault") })
	if err != nil || resp != gomilter.RespContinue {
		t.Fatalf("panic in a header: %v %v, want continue", resp, err)
	}
	for _, stage := range []string{"body", "headers", "eom"} {
		replies := stage != "body"
		resp, err := g.run(stage, replies, func() (*gomilter.Response, error) {
			t.Errorf("%s: the session ran after its transaction was dropped", stage)
			return gomilter.RespAccept, nil
		})
		want := gomilter.RespContinue
		if replies {
			want = internalError
		}
		if err != nil || resp != want {
			t.Errorf("%s: %v %v, want %v", stage, resp, err, want)
		}
	}
	if n := strings.Count(w.logs.String(), "injected fault"); n != 1 {
		t.Errorf("panic logged %d times", n)
	}
}

func TestDaemonSurvivesPanics(t *testing.T) {
	w := newHostileDaemonWith(t, "", "", policy.Options{Rand: func() int { panic("injected fault") }})
	addr := w.d.Addr().String()
	s, err := gomilter.NewClient("tcp", addr, gomilter.WithReadTimeout(10*time.Second)).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tripping := hostileMsg("x@sampled.example", "Hi.\r\n")
	normal := hostileMsg("x@spammer.example", "Hi.\r\n")
	for i := 0; i < 3; i++ {
		r := sendOn(t, s, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"}, tripping)
		if r.stage != "eom" || !isReject(r.act, 451) || !strings.HasPrefix(r.act.SMTPReply, "451 4.3.0 ") {
			t.Fatalf("message that trips the bug: %s %+v", r.stage, r.act)
		}
		// The same connection and a new one go on as usual.
		if r := sendOn(t, s, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"}, normal); r.summary() != "eom accept" {
			t.Errorf("next transaction on the connection: %s", r.summary())
		}
		if r := send(t, addr, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"}, normal); r.summary() != "eom accept" {
			t.Errorf("new connection: %s", r.summary())
		}
	}
	if logs := w.logs.String(); strings.Count(logs, "injected fault") != 3 || !strings.Contains(logs, "internal error") {
		t.Errorf("panics not logged once each:\n%s", logs)
	}
}
