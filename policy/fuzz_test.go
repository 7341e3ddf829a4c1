package policy

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// The hostile world: the engine tests' small Internet (engineZone) with
// keys that stay the same from run to run, so that signed inputs kept in
// the fuzz corpus still verify, plus the records a hostile sender or a
// broken DNS would show: malformed, revoked and oversized DKIM keys,
// broken and duplicated SPF and DMARC records, and names whose server
// fails.
const hostileZone = `
broken.example. IN TXT "v=spf1 ip4:999.1.1.1 -all"
_dmarc.broken.example. IN TXT "v=DMARC1; p=bogus; pct=many"
twice.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
twice.example. IN TXT "v=spf1 -all"
_dmarc.twice.example. IN TXT "v=DMARC1; p=none"
_dmarc.twice.example. IN TXT "v=DMARC1; p=reject"
badkey-ed._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=AAAA"
badkey-rsa._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA!!not-base64!!"
revoked._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p="
badkey-ed._domainkey.partner.example. IN TXT "v=DKIM1; k=ed25519; p=////////////////////////////////////////////8="
revoked._domainkey.partner.example. IN TXT "v=DKIM1; p="
`

// fixedKey is the fixed Ed25519 key of the signing domains
// (selector "sel"): derived from the domain name, so they never change.
func fixedKey(domain string) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, domain)
	return ed25519.NewKeyFromSeed(seed)
}

// hostileWorld is engineWorld with fixed Ed25519 keys, an RSA key for
// example.org and partner.example (selector "rsa"), the hostile records,
// and failing names: servfail.example answers SERVFAIL, garbage.example
// answers bytes that are not DNS.
type hostileWorld struct {
	*engineWorld
	rsa *rsa.PrivateKey
}

// The RSA key is made once per test binary: 2048-bit keys take a while.
var (
	hostileRSAOnce sync.Once
	hostileRSA     *rsa.PrivateKey
	hostileRSAErr  error
)

func newHostileWorld(tb testing.TB) *hostileWorld {
	tb.Helper()
	w := &hostileWorld{engineWorld: &engineWorld{dns: dnstest.New(tb, engineZone), keys: map[string]ed25519.PrivateKey{}}}
	for _, d := range []string{"example.org", "partner.example", "strict.example", "lists.example.net"} {
		w.keys[d] = fixedKey(d)
		w.dns.MustAdd(tb, fmt.Sprintf(`sel._domainkey.%s. IN TXT "v=DKIM1; k=ed25519; p=%s"`, d,
			base64.StdEncoding.EncodeToString(w.keys[d].Public().(ed25519.PublicKey))))
	}
	hostileRSAOnce.Do(func() { hostileRSA, hostileRSAErr = rsa.GenerateKey(rand.Reader, 2048) })
	if hostileRSAErr != nil {
		tb.Fatal(hostileRSAErr)
	}
	w.rsa = hostileRSA
	der, err := x509.MarshalPKIXPublicKey(&hostileRSA.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range []string{"example.org", "partner.example"} {
		w.dns.MustAdd(tb, fmt.Sprintf(`rsa._domainkey.%s. IN TXT "v=DKIM1; k=rsa; p=%s"`, d, dnstest.TXTStrings(base64.StdEncoding.EncodeToString(der))))
		// A key record far over any real key's size (RFC 6376 §3.6.2.2
		// lets it be split into strings; the whole is what counts).
		w.dns.MustAdd(tb, fmt.Sprintf(`huge._domainkey.%s. IN TXT "v=DKIM1; k=rsa; p=%s"`, d, dnstest.TXTStrings(strings.Repeat("QUFB", 4000))))
	}
	w.dns.MustAdd(tb, hostileZone)
	w.dns.MustAdd(tb, `
servfail.example. IN TXT "v=spf1 -all"
garbage.example. IN TXT "v=spf1 -all"
`)
	w.dns.SetFault("servfail.example", dnstest.ServFail)
	w.dns.SetFault("garbage.example", dnstest.Garbage)
	return w
}

// sign DKIM-signs msg as domain with the key of selector ("sel": Ed25519,
// "rsa": RSA; any other selector signs with the Ed25519 key, so that the
// published record — malformed, revoked, huge — is what fails).
func (w *hostileWorld) sign(tb testing.TB, msg, domain, selector string) string {
	tb.Helper()
	var signer crypto.Signer = fixedKey(domain)
	if selector == "rsa" {
		signer = w.rsa
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

// fuzzClients are the clients a fuzz input picks from by number: every
// class, over IPv4 and IPv6.
var fuzzClients = []Client{
	{IP: netip.MustParseAddr("192.0.2.66"), Helo: "spam.spammer.example"},
	{IP: netip.MustParseAddr("198.51.100.5"), Helo: "filter.example.org"},
	{IP: netip.MustParseAddr("192.0.2.30"), Helo: "mail.partner.example"},
	{IP: netip.MustParseAddr("203.0.113.10"), Helo: "out.example.org"},
	{IP: netip.MustParseAddr("127.0.0.1"), Helo: "localhost"},
	{IP: netip.MustParseAddr("198.51.102.7"), Helo: "in.cloud.example"},
	{IP: netip.MustParseAddr("2001:db8::66"), Helo: "mail.example.org"},
	{IP: netip.MustParseAddr("198.51.101.9"), Helo: "filter2.example"},
}

// fuzzTransaction turns a fuzz input into a transaction: the low three
// bits of client pick the client, the high bit makes it authenticated.
func fuzzTransaction(msg []byte, client uint8, mailFrom, rcpt string) Transaction {
	tx := Transaction{Client: fuzzClients[int(client)%len(fuzzClients)], MailFrom: mailFrom, Message: bytes.NewReader(msg)}
	if client&0x80 != 0 {
		tx.AuthUser = "alice"
	}
	if rcpt != "" {
		tx.Rcpts = strings.Split(rcpt, ",")
	}
	return tx
}

// checkDecided asserts what must hold for any message whatever it holds:
// a known action with its rule and reply, a tempfail only from a DNS
// failure, never a reject from one, and no accepted own-domain From
// without authentication.
func checkDecided(t *testing.T, m *Message, stage Stage, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Run failed: %v", err)
	}
	if stage < StageMailFrom || stage > StageBody {
		t.Fatalf("stage %d", stage)
	}
	v := m.Verdict()
	switch v.Action {
	case config.ActionAccept:
	case config.ActionQuarantine:
		if !slices.Contains(Rules, v.Rule) {
			t.Fatalf("quarantine by unknown rule %q", v.Rule)
		}
	case config.ActionReject:
		if v.Code != 550 || !strings.HasPrefix(v.Status, "5.7.") || !slices.Contains(Rules, v.Rule) {
			t.Fatalf("reject %q by rule %q", v.Reply(), v.Rule)
		}
	case config.ActionTempFail:
		if v.Code != 451 || !strings.HasPrefix(v.Status, "4.") || !slices.Contains(Rules, v.Rule) {
			t.Fatalf("tempfail %q by rule %q", v.Reply(), v.Rule)
		}
	default:
		t.Fatalf("undecided verdict %+v", v)
	}
	temperror := false
	for _, o := range m.Outcomes {
		if o.Result == "temperror" {
			temperror = true
			if o.Verdict != nil && o.Verdict.Action == config.ActionReject {
				t.Fatalf("a DNS failure became a reject: %+v", o)
			}
		}
	}
	if v.Action == config.ActionTempFail && !temperror {
		t.Fatalf("tempfail without a DNS failure: %s\n%s", v.Reason, m.outcomeDump())
	}
	if stage == StageBody && v.Action == config.ActionAccept {
		checkOwnFromAuthenticated(t, m)
	}
}

// checkOwnFromAuthenticated is the product's promise: an accepted message
// whose From is a protected domain came from a client that may use it, or
// is aligned by SPF or DKIM — unless DNS failed and the configuration
// accepts on a temperror.
func checkOwnFromAuthenticated(t *testing.T, m *Message) {
	t.Helper()
	if _, _, class := m.evaluated(); class.mayUseOwnDomains() {
		return
	}
	for _, o := range m.Outcomes {
		if o.Rule == RuleHeaderForgery && o.Result == "temperror" {
			return // dns.on_temperror = "accept" says so
		}
	}
	for _, dom := range m.From.Domains {
		if m.e.protected(dom) == nil || (m.SPF != nil && m.SPF.Result == dnsauth.Pass && oracleAligned(m.SPF.Domain, dom)) {
			continue
		}
		ok := false
		for _, s := range m.DKIM {
			ok = ok || (s.Result == dnsauth.Pass && oracleAligned(s.Domain, dom))
		}
		if !ok {
			t.Fatalf("accepted From %q (protected domain %s) without authentication:\n%s", m.From.Addresses, dom, m.outcomeDump())
		}
	}
}

// oracleAligned is relaxed identifier alignment (RFC 7489 §3.1.1) written
// apart from the engine's, so that a fault in the engine's alignment
// cannot hide in the oracle as well: the two names, lower-cased and
// without a root dot, have the same registered domain under the public
// suffix list (both of its sections, as the engine reads it); a name that
// has none aligns only with itself.
func oracleAligned(a, b string) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	ra, errA := publicsuffix.EffectiveTLDPlusOne(a)
	rb, errB := publicsuffix.EffectiveTLDPlusOne(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ra == rb
}

// FuzzEngineRun drives whole messages — header block and body from the
// fuzzer, with its choice of client, envelope sender and recipients —
// through Engine.Run against the hostile world. Every input must come to
// a decided verdict in bounded time.
func FuzzEngineRun(f *testing.F) {
	w := newHostileWorld(f)
	e := w.engine(f, "", "", "", Options{Rand: func() int { return 50 }})
	for _, s := range hostileSeeds(f, w) {
		f.Add([]byte(s.msg), s.client, s.mailFrom, s.rcpt)
	}
	f.Fuzz(func(t *testing.T, msg []byte, client uint8, mailFrom, rcpt string) {
		// Size limits have their own tests; huge inputs only slow the
		// fuzzer down.
		if len(msg) > 32<<10 || len(mailFrom) > 4096 || len(rcpt) > 4096 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		m, stage, err := e.Run(ctx, fuzzTransaction(msg, client, mailFrom, rcpt))
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
		checkDecided(t, m, stage, err)
	})
}

type hostileSeed struct {
	msg            string
	client         uint8
	mailFrom, rcpt string
}

// hostileSeeds are starting points for the fuzzers: ordinary mail of each
// kind and the hostile shapes the tests below name.
func hostileSeeds(tb testing.TB, w *hostileWorld) []hostileSeed {
	plain := func(from string, extra ...string) string { return w.message(tb, from, "", "", extra...) }
	relayed := func(from, signer, origin string) string { return w.message(tb, from, signer, origin) }
	return []hostileSeed{
		{plain("CEO <ceo@example.org>"), 0, "x@spammer.example", "user@edge.example"},
		{relayed("CEO <ceo@example.org>", "", "spam.spammer.example 192.0.2.66"), 1, "x@spammer.example", "user@example.org"},
		{relayed("alice@partner.example", "partner.example", "mail.partner.example 192.0.2.30"), 1, "alice@partner.example", "user@example.org"},
		{w.sign(tb, plain("alice@example.org"), "example.org", "rsa"), 0, "x@lists.example.net", "user@edge.example"},
		{w.sign(tb, plain("alice@example.org"), "example.org", "badkey-ed"), 0, "x@lists.example.net", "user@edge.example"},
		{plain("a@twice.example"), 0, "a@twice.example", "user@edge.example,user@example.org"},
		{plain("x@servfail.example"), 6, "x@garbage.example", "user@edge.example"},
		{"From: \r\nARC-Seal: x\r\n\r\n", 0, "", "user@edge.example"},
		{"From: <ceo@>\r\nFrom: ceo@example.org.\r\n\r\nbody\x00\r\n", 2, "<>", "user@edge.example"},
		{"From: =?utf-8?q?ceo=40example=2Eorg?= <x@spammer.example>\r\nDKIM-Signature: v=1; d=example.org; d=example.org\r\n\r\n", 0, "x@spammer.example", "user@edge.example"},
		{plain("boss@example.org"), 0x80, "boss@example.org", "user@example.org"},
	}
}
