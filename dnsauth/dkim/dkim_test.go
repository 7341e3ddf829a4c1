package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	_ "unsafe" // for go:linkname to go-msgauth's clock

	msgauth "github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// dkimLibraryNow is go-msgauth's clock for x= (a package variable it does
// not let callers set). Tests that replay old signed messages pin it with
// dkimPinClock; those tests never run in parallel.
//
//go:linkname dkimLibraryNow github.com/emersion/go-msgauth/dkim.now
var dkimLibraryNow func() time.Time

// dkimPinClock sets both clocks, ours (returned as Options.Now) and
// go-msgauth's, to unix seconds sec for the rest of the test.
func dkimPinClock(t testing.TB, sec int64) func() time.Time {
	saved := dkimLibraryNow
	now := func() time.Time { return time.Unix(sec, 0) }
	dkimLibraryNow = now
	t.Cleanup(func() { dkimLibraryNow = saved })
	return now
}

// dkimServer starts the in-process DNS server with key records given as
// "owner rdata" lines (the format of the shared test data; '#' starts a
// comment). Long rdata is split into 255-byte strings as on the wire.
func dkimServer(t testing.TB, records string) *dnstest.Server {
	t.Helper()
	srv := dnstest.New(t, "")
	for line := range strings.SplitSeq(records, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		owner, rdata, _ := strings.Cut(line, " ")
		dkimAddTXT(srv, owner, strings.TrimSpace(rdata))
	}
	return srv
}

// dkimAddTXT publishes one TXT record.
func dkimAddTXT(srv *dnstest.Server, owner, rdata string) {
	var chunks []string
	for len(rdata) > 255 {
		chunks, rdata = append(chunks, rdata[:255]), rdata[255:]
	}
	chunks = append(chunks, rdata)
	srv.AddRR(&dns.TXT{
		Hdr: dns.RR_Header{Name: dns.Fqdn(owner), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
		Txt: chunks,
	})
}

// dkimResolver is the real caching resolver pointed at srv.
func dkimResolver(t testing.TB, srv *dnstest.Server) *dnsauth.Resolver {
	t.Helper()
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// dkimRead reads a file of the shared test data.
func dkimRead(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(dnstest.SharedTestdata(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dkimVerify verifies msg through Verify with a 5 s budget.
func dkimVerify(t testing.TB, r dnsauth.DNS, msg []byte, opts Options) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Verify(ctx, r, bytes.NewReader(msg), opts)
}

// dkimSummary is "result(d/s)" per signature, for compact comparisons.
func dkimSummary(res []Result) string {
	var parts []string
	for _, r := range res {
		parts = append(parts, fmt.Sprintf("%s(%s/%s)", r.Result, r.Domain, r.Selector))
	}
	return strings.Join(parts, " ")
}

// The RFC 8463 Appendix A example: an Ed25519 and an RSA signature over
// the same message, both valid.
func TestDKIMRFC8463(t *testing.T) {
	srv := dkimServer(t, string(dkimRead(t, "dkim-rfc8463", "dns.txt")))
	r := dkimResolver(t, srv)
	msg := dkimRead(t, "dkim-rfc8463", "rfc8463-signed.eml")
	got := dkimVerify(t, r, msg, Options{})
	want := []Result{
		{Result: dnsauth.Pass, Domain: "football.example.com", Selector: "brisbane", Identifier: "@football.example.com",
			Algorithm: "ed25519-sha256", Signature: "/gCrinpc"},
		{Result: dnsauth.Pass, Domain: "football.example.com", Selector: "test", Identifier: "@football.example.com",
			Algorithm: "rsa-sha256", Signature: "F45dVWDf"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// The negative variants of ../shared/testdata/dkim-rfc8463/expected.yaml,
// each built by changing the message or the DNS.
func TestDKIMRFC8463Variants(t *testing.T) {
	msg := string(dkimRead(t, "dkim-rfc8463", "rfc8463-signed.eml"))
	records := string(dkimRead(t, "dkim-rfc8463", "dns.txt"))
	const brisbane = "brisbane._domainkey.football.example.com"
	test := func(name, message string, change func(*dnstest.Server), want string) {
		t.Run(name, func(t *testing.T) {
			srv := dkimServer(t, records)
			if change != nil {
				change(srv)
			}
			got := dkimSummary(dkimVerify(t, dkimResolver(t, srv), []byte(message), Options{}))
			if got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	both := func(r dnsauth.Result) string {
		return fmt.Sprintf("%s(football.example.com/brisbane) %s(football.example.com/test)", r, r)
	}
	test("body changed", strings.Replace(msg, "Joe.", "Joe!", 1), nil, both(dnsauth.Fail))
	test("subject changed", strings.Replace(msg, "Subject: Is dinner ready?", "Subject: Is dinner ready!", 1), nil, both(dnsauth.Fail))
	test("second From", strings.Replace(msg, "To: Suzie", "From: Mallory <m@example.net>\r\nTo: Suzie", 1), nil, both(dnsauth.Fail))
	test("revoked key", msg, func(s *dnstest.Server) {
		s.Remove(brisbane)
		dkimAddTXT(s, brisbane, "v=DKIM1; k=ed25519; p=")
	}, "permerror(football.example.com/brisbane) pass(football.example.com/test)")
	test("no key", msg, func(s *dnstest.Server) { s.Remove(brisbane) },
		"permerror(football.example.com/brisbane) pass(football.example.com/test)")
	test("key lookup times out", msg, func(s *dnstest.Server) { s.SetFault(brisbane, dnstest.Timeout) },
		"temperror(football.example.com/brisbane) pass(football.example.com/test)")
	test("key lookup SERVFAIL", msg, func(s *dnstest.Server) { s.SetFault(brisbane, dnstest.ServFail) },
		"temperror(football.example.com/brisbane) pass(football.example.com/test)")
}

// dkimpy's data: the RFC 6376 example signed simple/simple (LF line ends,
// which the verifier turns into CRLF), Exim's Ed25519 signature with odd
// folding, and key records that must or must not work.
func TestDKIMDkimpy(t *testing.T) {
	records := string(dkimRead(t, "dkim-rfc8463", "dns.txt"))
	exim := strings.TrimSpace(string(dkimRead(t, "dkim-dkimpy", "eximtest.dns")))
	srv := dkimServer(t, records+"\nsed._domainkey.test.ex "+exim)
	r := dkimResolver(t, srv)

	signed := dkimRead(t, "dkim-dkimpy", "rfc6376.signed.msg")
	if got := dkimSummary(dkimVerify(t, r, signed, Options{})); got !=
		"pass(football.example.com/brisbane) pass(football.example.com/test)" {
		t.Errorf("rfc6376.signed.msg: %s", got)
	}
	if got := dkimSummary(dkimVerify(t, r, dkimRead(t, "dkim-dkimpy", "ed25519test2.msg"), Options{})); got != "pass(test.ex/sed)" {
		t.Errorf("ed25519test2.msg: %s", got)
	}

	// The RSA signature of rfc6376.signed.msg against each key record.
	for _, c := range []struct {
		file string
		want dnsauth.Result
	}{
		{"test.txt", dnsauth.Pass},  // legacy g=* is ignored
		{"test2.txt", dnsauth.Pass}, // k= defaults to rsa
		// The corrupted last bytes break the key's DER encoding, so the key
		// is unusable (permerror, RFC 6376 §6.1.2), not merely wrong (fail).
		{"test_bad.txt", dnsauth.PermError},
		{"badversion.txt", dnsauth.PermError}, // "v=DKIM1:" is not DKIM1
		{"badk.txt", dnsauth.PermError},       // k=ed25519-sha256 is no key type
	} {
		rec := strings.TrimSpace(string(dkimRead(t, "dkim-dkimpy", c.file)))
		srv := dkimServer(t, records)
		srv.Remove("test._domainkey.football.example.com")
		dkimAddTXT(srv, "test._domainkey.football.example.com", rec)
		res := dkimVerify(t, dkimResolver(t, srv), signed, Options{})
		if len(res) != 2 || res[1].Result != c.want {
			t.Errorf("%s: %s, want %s for the test selector", c.file, dkimSummary(res), c.want)
		}
	}
}

// mail-auth's real-world messages, replayed at the time they were checked
// (005 has an x= that is long past), then at the real time.
func TestDKIMMailauth(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(dnstest.SharedTestdata(t, "dkim-mailauth"), "00*.txt"))
	if len(files) != 6 {
		t.Fatalf("found %d mail-auth messages, want 6", len(files))
	}
	type run struct {
		file string
		res  []Result
	}
	replay := func(opts Options) []run {
		var out []run
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			records, msg, _ := bytes.Cut(raw, []byte("\n\n"))
			res := dkimVerify(t, dkimResolver(t, dkimServer(t, string(records))), msg, opts)
			out = append(out, run{filepath.Base(f), res})
		}
		return out
	}

	pinned := replay(Options{Now: dkimPinClock(t, 1667843664)})
	for _, r := range pinned {
		if len(r.res) == 0 || r.res[len(r.res)-1].Result != dnsauth.Pass {
			t.Errorf("%s at the fixed time: %s, want the last signature to pass", r.file, dkimSummary(r.res))
		}
		for _, res := range r.res {
			if res.Result != dnsauth.Pass {
				t.Errorf("%s at the fixed time: %+v", r.file, res)
			}
		}
	}

	// Our clock says now, go-msgauth's the fixed time: Options.Now
	// alone finds 005 expired. Then both clocks say now.
	now := func(opts Options) {
		for _, r := range replay(opts) {
			if len(r.res) == 0 {
				t.Errorf("%s now: no result", r.file)
				continue
			}
			last := r.res[len(r.res)-1]
			switch {
			case r.file == "005.txt" && (last.Result != dnsauth.PermError || !strings.Contains(last.Reason, "expired")):
				t.Errorf("005.txt now: %+v, want permerror, expired", last)
			case r.file != "005.txt" && last.Result != dnsauth.Pass:
				t.Errorf("%s now: %+v, want pass", r.file, last)
			}
		}
	}
	now(Options{Now: time.Now})
	dkimLibraryNow = time.Now
	now(Options{})
}

// dkimManifest is ../shared/testdata/dkim-mail-dkim-perl/manifest.yaml.
type dkimManifest struct {
	Cases []struct {
		File        string `yaml:"file"`
		Expected    string `yaml:"expected"`
		RFC8301Note string `yaml:"rfc8301_note"`
		Sigs        []struct {
			Kind string `yaml:"kind"`
		} `yaml:"sigs"`
	} `yaml:"cases"`
}

// dkimFakeDNS loads Mail::DKIM's FAKE_DNS.dat: "name rdata", or NXDOMAIN,
// or a timeout or SERVFAIL marker.
func dkimFakeDNS(t *testing.T, data string) *dnstest.Server {
	srv := dnstest.New(t, "")
	for line := range strings.SplitSeq(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		name, rdata, _ := strings.Cut(line, " ")
		rdata = strings.TrimSpace(rdata)
		switch rdata {
		case "NXDOMAIN":
		case "~~Query timed out~~":
			srv.SetFault(name, dnstest.Timeout)
		case "~~SERVFAIL~~":
			srv.SetFault(name, dnstest.ServFail)
		case `""`:
			dkimAddTXT(srv, name, "")
		default:
			dkimAddTXT(srv, name, rdata)
		}
	}
	return srv
}

// The Mail::DKIM corpus. Its expectations are Mail::DKIM's default mode,
// which accepts what RFC 6376 and RFC 8301 refuse. Where the outcome here
// differs, the test says why and counts it:
//   - pre-RFC: the signature is a draft one, without v= or with v=0.5
//     (RFC 6376 §3.5 requires v=1): permerror before anything else;
//   - RFC 8301: rsa-sha1 or an RSA key under 1024 bits, refused before the
//     hash is checked (RFC 8301 §3.1, §3.2; RFC 6376 §6.1.1 checks the
//     algorithm before fetching the key), so permerror even for the files
//     Mail::DKIM calls "fail" and for the DNS-error files badkey_14/15.
//
// Files with DomainKey-Signature only give no result (dkim=none). The
// Ed25519 files, the only ones untouched by either rule, are also checked
// for their reason.
func TestDKIMMailDKIMCorpus(t *testing.T) {
	var m dkimManifest
	if err := yaml.Unmarshal(dkimRead(t, "dkim-mail-dkim-perl", "manifest.yaml"), &m); err != nil {
		t.Fatal(err)
	}
	srv := dkimFakeDNS(t, string(dkimRead(t, "dkim-mail-dkim-perl", "FAKE_DNS.dat")))
	r := dkimResolver(t, srv)
	tally := map[string]int{}
	for _, c := range m.Cases {
		res := dkimVerify(t, r, dkimRead(t, "dkim-mail-dkim-perl", c.File), Options{})
		got := dkimMailDKIMWord(res)
		why := dkimMailDKIMWhy(c.Expected, c.RFC8301Note, c.Sigs[0].Kind, res)
		switch {
		case c.Sigs[0].Kind == "DomainKeys" && len(res) != 0:
			t.Errorf("%s (DomainKeys only): %s, want no result", c.File, dkimSummary(res))
		case why == "":
			t.Errorf("%s: %s (%s), want %s", c.File, got, dkimSummary(res), c.Expected)
			for _, r := range res {
				t.Logf("  %+v", r)
			}
		}
		if want := dkimEd25519Reasons[c.File]; want != "" && (len(res) != 1 || !strings.Contains(res[0].Reason+string(res[0].Result), want)) {
			t.Errorf("%s: %+v, want %q", c.File, res, want)
		}
		tally[why]++
	}
	t.Logf("Mail::DKIM corpus, %d files: %d as upstream expects, %d pre-RFC signatures (permerror), "+
		"%d refused by RFC 8301 (permerror), %d DomainKeys-only (none), %d unexplained",
		len(m.Cases), tally["as expected"], tally["pre-RFC"], tally["RFC 8301"], tally["DomainKeys"], tally[""])
	if len(m.Cases) != 79 {
		t.Errorf("manifest has %d cases, want 79", len(m.Cases))
	}
	// The explanations are read off the results, so the counts are what
	// holds them down: a good signature that starts failing with a reason
	// naming v= would otherwise pass as "pre-RFC".
	want := map[string]int{"as expected": 29, "pre-RFC": 20, "RFC 8301": 13, "DomainKeys": 17}
	for why, n := range want {
		if tally[why] != n {
			t.Errorf("%s: %d files, want %d", why, tally[why], n)
		}
	}
}

// dkimMailDKIMWhy explains a corpus outcome: "as expected" when it is
// Mail::DKIM's, else the rule that makes it differ, or "" when nothing
// does.
func dkimMailDKIMWhy(expected, rfc8301, kind string, res []Result) string {
	got := dkimMailDKIMWord(res)
	switch {
	case kind == "DomainKeys":
		return "DomainKeys"
	case got == expected:
		return "as expected"
	case got != "invalid":
		return ""
	}
	for _, r := range res {
		if r.Result != dnsauth.PermError {
			return ""
		}
	}
	if strings.Contains(res[0].Reason, "v=") {
		return "pre-RFC"
	}
	if rfc8301 != "" {
		return "RFC 8301"
	}
	return ""
}

// dkimEd25519Reasons are the results expected of the corpus's Ed25519
// files.
var dkimEd25519Reasons = map[string]string{
	"corpus/goodkey_ed25519.txt": "pass",
	"corpus/badkey1_ed25519.txt": "Ed25519 public key size",
	"corpus/badkey2_ed25519.txt": "signature did not verify",
	"corpus/badkey3_ed25519.txt": "body hash did not verify",
	"corpus/badkey4_ed25519.txt": "no such host",
	"corpus/badkey5_ed25519.txt": "missing public key data",
}

// dkimMailDKIMWord says a message's outcome in Mail::DKIM's words: pass if
// any signature passes, else fail if any fails, else invalid.
func dkimMailDKIMWord(res []Result) string {
	word := "invalid"
	for _, r := range res {
		switch r.Result {
		case dnsauth.Pass:
			return "pass"
		case dnsauth.Fail:
			word = "fail"
		}
	}
	return word
}

// dkimKeys are the signing keys of the tests, made once: RSA-2048 and
// Ed25519.
var dkimKeys = sync.OnceValue(func() (k struct {
	rsa     *rsa.PrivateKey
	ed      ed25519.PrivateKey
	rsaTXT  string // their key records
	edTXT   string
	rsaPKCS string // the RSA key as PKCS#1, which verifiers accept too
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k.ed = priv
	spki, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		panic(err)
	}
	k.rsaTXT = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(spki)
	k.rsaPKCS = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))
	k.edTXT = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	return k
})

// dkimKeyZone serves the test keys: rsa and ed under example.org, the
// RSA key as PKCS#1 as pkcs1.
func dkimKeyZone(t testing.TB) *dnstest.Server {
	k := dkimKeys()
	return dkimServer(t, "rsa._domainkey.example.org "+k.rsaTXT+
		"\ned._domainkey.example.org "+k.edTXT+
		"\npkcs1._domainkey.example.org "+k.rsaPKCS)
}

// dkimHeader is the header of the test message: folded fields, odd
// spacing and a field that is not signed.
const dkimHeader = "From: Alice Example <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>,\r\n\tCarol <carol@example.net>\r\n" +
	"Subject:   Quarterly   numbers  \r\n" +
	"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1234@example.org>\r\n" +
	"X-Unsigned: anything\r\n"

// dkimBody builds a body of about n bytes: text lines with trailing
// blanks, tabs, empty lines and a long line, ending in empty lines, so the
// canonicalizations have work to do.
func dkimBody(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "Line %d of the report, with trailing blanks   \r\n", i)
		case 1:
			b.WriteString("\tindented\t \twith  tabs\r\n")
		case 2:
			b.WriteString("\r\n")
		case 3:
			b.WriteString(strings.Repeat("x", 900) + "\r\n")
		case 4:
			b.WriteString("  \r\n")
		}
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

// dkimSignAs signs a CRLF message and returns it with its DKIM-Signature
// on top.
func dkimSignAs(t testing.TB, msg, selector string, signer crypto.Signer, hc, bc msgauth.Canonicalization) string {
	t.Helper()
	var out bytes.Buffer
	err := msgauth.Sign(&out, strings.NewReader(msg), &msgauth.SignOptions{
		Domain: "example.org", Selector: selector, Signer: signer,
		HeaderCanonicalization: hc, BodyCanonicalization: bc,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "From"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// dkimFeed writes msg to v the way the milter does: each header field on
// its own (folded lines as they are), the empty line, then the body in
// chunks of size bytes.
func dkimFeed(v *Verifier, msg string, size int) {
	eol := "\r\n"
	if !strings.Contains(msg, "\r\n") {
		eol = "\n"
	}
	head, body, _ := strings.Cut(msg, eol+eol)
	var field []string
	for line := range strings.SplitSeq(head, eol) {
		if len(field) > 0 && line != "" && line[0] != ' ' && line[0] != '\t' {
			v.Write([]byte(strings.Join(field, eol) + eol))
			field = field[:0]
		}
		field = append(field, line)
	}
	v.Write([]byte(strings.Join(field, eol) + eol))
	v.Write([]byte(eol))
	for len(body) > 0 {
		n := min(size, len(body))
		v.Write([]byte(body[:n]))
		body = body[n:]
	}
}

// Signed with both key types and every canonicalization, verified through
// the streaming path fed field by field and then in 1-byte, 7-byte and
// 64 KiB body chunks, with CRLF and with bare LF line ends.
func TestDKIMStreaming(t *testing.T) {
	k := dkimKeys()
	r := dkimResolver(t, dkimKeyZone(t))
	msg := dkimHeader + "\r\n" + dkimBody(70<<10)
	cans := []msgauth.Canonicalization{msgauth.CanonicalizationSimple, msgauth.CanonicalizationRelaxed}
	for _, hc := range cans {
		for _, bc := range cans {
			signed := dkimSignAs(t, msg, "rsa", k.rsa, hc, bc)
			signed = dkimSignAs(t, signed, "ed", k.ed, hc, bc)
			for _, lf := range []bool{false, true} {
				in := signed
				if lf {
					in = strings.ReplaceAll(signed, "\r\n", "\n")
				}
				for _, size := range []int{1, 7, 64 << 10} {
					v := NewVerifier(context.Background(), r, Options{})
					dkimFeed(v, in, size)
					got := dkimSummary(v.Close())
					if got != "pass(example.org/ed) pass(example.org/rsa)" {
						t.Errorf("c=%s/%s lf=%v chunks of %d: %s", hc, bc, lf, size, got)
					}
				}
			}
		}
	}
}

// Whole messages through Verify: one signature (go-msgauth's
// single-signature path), an RSA key published as PKCS#1, a message with
// no body at all, and an unsigned message.
func TestDKIMWholeMessage(t *testing.T) {
	k := dkimKeys()
	r := dkimResolver(t, dkimKeyZone(t))
	test := func(name, msg, want string) {
		t.Run(name, func(t *testing.T) {
			if got := dkimSummary(dkimVerify(t, r, []byte(msg), Options{})); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	msg := dkimHeader + "\r\n" + dkimBody(4<<10)
	test("rsa", dkimSignAs(t, msg, "rsa", k.rsa, "relaxed", "relaxed"), "pass(example.org/rsa)")
	test("pkcs1", dkimSignAs(t, msg, "pkcs1", k.rsa, "relaxed", "simple"), "pass(example.org/pkcs1)")
	noBody := dkimSignAs(t, dkimHeader+"\r\n", "ed", k.ed, "simple", "simple")
	test("empty body", noBody, "pass(example.org/ed)")
	test("no empty line", strings.TrimSuffix(noBody, "\r\n"), "pass(example.org/ed)")
	test("last line unended", strings.TrimSuffix(noBody, "\r\n\r\n"), "pass(example.org/ed)")
	test("unsigned", msg, "")
	test("empty", "", "")
}

// dkimTagEdit rewrites the first DKIM-Signature of a signed message with
// edit (applied to the field's value).
func dkimTagEdit(signed string, edit func(value string) string) string {
	head, rest, _ := strings.Cut(signed, "\r\n\r\n")
	name, value, _ := strings.Cut(head, ":")
	end := 0
	for {
		i := strings.Index(value[end:], "\r\n")
		if i < 0 {
			end = len(value)
			break
		}
		end += i + 2
		if end >= len(value) || (value[end] != ' ' && value[end] != '\t') {
			end -= 2
			break
		}
	}
	return name + ":" + edit(value[:end]) + value[end:] + "\r\n\r\n" + rest
}

// Hostile signatures, keys and DNS answers: each gets a decided result
// with a reason, never a pass, a panic or a hang.
func TestDKIMHostile(t *testing.T) {
	k := dkimKeys()
	srv := dkimKeyZone(t)
	r := dkimResolver(t, srv)
	msg := dkimHeader + "\r\n" + dkimBody(2<<10)
	rsaSigned := dkimSignAs(t, msg, "rsa", k.rsa, "relaxed", "relaxed")
	signedBy := func(selector string) string { return dkimSignAs(t, msg, selector, k.ed, "relaxed", "relaxed") }
	key := func(selector, record string) {
		srv.Remove(selector + "._domainkey.example.org")
		if record != "" {
			dkimAddTXT(srv, selector+"._domainkey.example.org", record)
		}
	}
	test := func(name, msg string, want dnsauth.Result, reason string) {
		t.Run(name, func(t *testing.T) {
			res := dkimVerify(t, r, []byte(msg), Options{})
			if len(res) == 0 || res[0].Result != want || !strings.Contains(res[0].Reason, reason) {
				t.Errorf("got %+v, want %s with reason containing %q", res, want, reason)
			}
		})
	}

	test("empty tags", "DKIM-Signature: v=1; a=; d=; s=; b=; bh=; h=\r\n"+msg, dnsauth.PermError, "empty d=")
	test("repeated tag", dkimTagEdit(rsaSigned, dkimReplace("d=example.org;", "d=example.org; d=example.org;")), dnsauth.PermError, "duplicate tag d=")
	test("tag without =", dkimTagEdit(rsaSigned, dkimReplace("d=example.org;", "d=example.org; oops;")), dnsauth.PermError, "tag without '='")
	test("rsa-sha1", dkimTagEdit(rsaSigned, dkimReplace("a=rsa-sha256", "a=rsa-sha1")), dnsauth.PermError, "RFC 8301")
	test("unknown algorithm", dkimTagEdit(rsaSigned, dkimReplace("a=rsa-sha256", "a=dsa-sha256")), dnsauth.PermError, "unsupported algorithm")
	test("From not signed", dkimTagEdit(rsaSigned, dkimReplace("h=From:To:Subject:Date:Message-ID:From", "h=To:Subject")), dnsauth.PermError, "From")
	test("l= tag", dkimTagEdit(rsaSigned, dkimReplace("d=example.org;", "d=example.org; l=10;")), dnsauth.Policy, "l=")
	test("bad i=", dkimTagEdit(rsaSigned, dkimReplace("d=example.org;", "d=example.org; i=@example.net;")), dnsauth.PermError, "not within d=")
	test("body changed", strings.Replace(rsaSigned, "Line 0", "Line O", 1), dnsauth.Fail, "body hash")
	test("header changed", strings.Replace(rsaSigned, "Quarterly", "Quarterlx", 1), dnsauth.Fail, "signature did not verify")

	key("short", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(make([]byte, 31)))
	test("Ed25519 key of 31 bytes", signedBy("short"), dnsauth.PermError, "Ed25519 public key size")
	key("junk", "v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString([]byte("not a DER encoded key at all")))
	test("RSA key not DER", dkimSignAs(t, msg, "junk", k.rsa, "simple", "simple"), dnsauth.PermError, "key syntax error")
	key("nob64", "v=DKIM1; k=ed25519; p=!!!!")
	test("key not base64", signedBy("nob64"), dnsauth.PermError, "key syntax error")
	key("revoked", "v=DKIM1; k=ed25519; p=")
	test("revoked key", signedBy("revoked"), dnsauth.PermError, "revoked")
	key("huge", "v=DKIM1; k=ed25519; n="+strings.Repeat("x", 16<<10)+"; "+strings.TrimPrefix(k.edTXT, "v=DKIM1; k=ed25519; "))
	test("16 KiB key record", signedBy("huge"), dnsauth.PermError, "over the 4096-byte limit")
	key("twice", k.edTXT)
	dkimAddTXT(srv, "twice._domainkey.example.org", k.edTXT+"; n=second")
	test("two key records", signedBy("twice"), dnsauth.PermError, "multiple TXT records")
	key("wrongtype", k.rsaTXT)
	test("RSA key for Ed25519", signedBy("wrongtype"), dnsauth.PermError, "inappropriate key algorithm")
	key("nxdomain", "")
	test("NXDOMAIN", signedBy("nxdomain"), dnsauth.PermError, "no key")
	key("servfail", k.edTXT)
	srv.SetFault("servfail._domainkey.example.org", dnstest.ServFail)
	test("SERVFAIL", signedBy("servfail"), dnsauth.TempError, "key unavailable")
	key("timeout", k.edTXT)
	srv.SetFault("timeout._domainkey.example.org", dnstest.Timeout)
	test("timeout", signedBy("timeout"), dnsauth.TempError, "key unavailable")
	key("garbage", k.edTXT)
	srv.SetFault("garbage._domainkey.example.org", dnstest.Garbage)
	test("garbage answer", signedBy("garbage"), dnsauth.TempError, "key unavailable")

	// RFC 6376 §3.6.1: with t=s in the key, i= must be d= itself.
	key("strict", k.edTXT+"; t=s")
	sub := func(id string) string {
		var out bytes.Buffer
		if err := msgauth.Sign(&out, strings.NewReader(msg), &msgauth.SignOptions{Domain: "example.org", Selector: "strict",
			Identifier: id, Signer: k.ed, HeaderKeys: []string{"From"}}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	test("t=s, i= in a subdomain", sub("@mail.example.org"), dnsauth.PermError, "t=s")
	test("t=s, i= at d=", sub("joe@example.org"), dnsauth.Pass, "")
}

// The limits that keep a session's memory and CPU bounded decide the
// signatures they stop, and leave the others alone.
func TestDKIMLimits(t *testing.T) {
	k := dkimKeys()
	r := dkimResolver(t, dkimKeyZone(t))
	msg := dkimHeader + "\r\n" + dkimBody(2<<10)
	ed := dkimSignAs(t, msg, "ed", k.ed, "relaxed", "relaxed")
	sig, _, _ := strings.Cut(ed, "From: Alice")
	test := func(name, msg, want string) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			res := dkimVerify(t, r, []byte(msg), Options{})
			var got []string
			for _, x := range res {
				got = append(got, string(x.Result)+": "+x.Reason)
			}
			if g := strings.Join(dkimCompact(got), "; "); g != want {
				t.Errorf("got  %s\nwant %s", g, want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}

	test("40 signatures", strings.Repeat(sig, 40)+msg,
		"8× pass: ; 32× neutral: not verified: more than 8 signatures")
	res := dkimVerify(t, r, []byte(strings.Repeat(sig, 3)+msg), Options{MaxSignatures: 2})
	if got := dkimSummary(res); got != "pass(example.org/ed) pass(example.org/ed) neutral(example.org/ed)" {
		t.Errorf("MaxSignatures 2: %s", got)
	}
	manyNames := dkimTagEdit(dkimSignAs(t, msg, "rsa", k.rsa, "simple", "simple"),
		dkimReplace("h=From:", "h="+strings.Repeat("X-A:", 300)+"From:"))
	test("h= of 301 names, then a good signature", manyNames[:strings.Index(manyNames, "From: Alice")]+ed,
		"policy: h= signs over 256 header fields; pass: ")
	long := dkimTagEdit(ed, dkimReplace("d=example.org;", "d=example.org; zz="+strings.Repeat("y", 9000)+";"))
	test("9000-byte signature, then a good one", long[:strings.Index(long, "From: Alice")]+ed,
		"policy: signature field over 8192 bytes; pass: ")
	fields := strings.Repeat("X-Pad: 1\r\n", 1001)
	test("1001 more header fields", strings.Replace(ed, "From: Alice", fields+"From: Alice", 1),
		"neutral: not verified: header has more than 1000 fields")
	test("header block over 1 MiB", strings.Replace(ed, "From: Alice", "X-Big: "+strings.Repeat("b", 1<<20)+"\r\nFrom: Alice", 1),
		"neutral: not verified: header block over 1048576 bytes")

	blank := func(n int) string {
		return dkimSignAs(t, dkimHeader+"\r\ntop\r\n"+strings.Repeat("\r\n", n)+"bottom\r\n", "ed", k.ed, "relaxed", "relaxed")
	}
	test("30000 empty lines", blank(30000), "pass: ")
	test("40000 empty lines", blank(40000), "neutral: not verified: body has over 65536 bytes of consecutive line breaks")
	spaced := dkimSignAs(t, dkimHeader+"\r\ntop\r\n"+strings.Repeat(" \r\n", 40000)+"bottom\r\n", "ed", k.ed, "relaxed", "relaxed")
	test("40000 blank lines", spaced, "neutral: not verified: body has over 65536 bytes of consecutive line breaks")
}

// dkimReplace is strings.Replace once, as a value edit.
func dkimReplace(old, new string) func(string) string {
	return func(v string) string { return strings.Replace(v, old, new, 1) }
}

// dkimCompact folds runs of equal lines into "N× line".
func dkimCompact(lines []string) []string {
	var out []string
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && lines[j] == lines[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%d× %s", j-i, lines[i]))
		} else {
			out = append(out, lines[i])
		}
		i = j
	}
	return out
}

// dkimSettle waits until the number of goroutines is back to at most n.
func dkimSettle(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Abort in the middle of the body releases the goroutine: with the key
// already known, and while a Write waits on a full pipe because the key
// lookup is slow.
func TestDKIMAbort(t *testing.T) {
	k := dkimKeys()
	srv := dkimKeyZone(t)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	signed := dkimSignAs(t, dkimHeader+"\r\n"+dkimBody(1<<20), "ed", k.ed, "relaxed", "relaxed")
	head, body, _ := strings.Cut(signed, "\r\n\r\n")
	dkimVerify(t, r, []byte(signed), Options{}) // warms the cache
	before := runtime.NumGoroutine()

	v := NewVerifier(context.Background(), r, Options{})
	v.Write([]byte(head + "\r\n\r\n" + body[:100<<10]))
	v.Abort()
	if res := v.Close(); len(res) != 1 || res[0].Result != dnsauth.TempError {
		t.Errorf("Close after Abort: %+v", res)
	}
	v.Write([]byte("more")) // ignored
	dkimSettle(t, before, 2*time.Second)

	dkimAddTXT(srv, "slow._domainkey.example.org", k.edTXT) // not cached yet
	slow := dkimSignAs(t, dkimHeader+"\r\n"+dkimBody(1<<20), "slow", k.ed, "relaxed", "relaxed")
	srv.SetDelay(1500 * time.Millisecond)
	v = NewVerifier(context.Background(), r, Options{})
	wrote := make(chan time.Time)
	go func() {
		v.Write([]byte(slow)) // a 1 MiB body: blocks once the pipe is full
		wrote <- time.Now()
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-wrote:
		t.Fatal("Write returned while the key lookup was pending: the pipe did not fill")
	default:
	}
	aborted := time.Now()
	v.Abort()
	if d := (<-wrote).Sub(aborted); d > 500*time.Millisecond {
		t.Errorf("Write returned %v after Abort", d)
	}
	srv.SetDelay(0)
	// The resolver's own query goroutine ends with the server's answer.
	dkimSettle(t, before, 3*time.Second)
}

// Close waits for a slow key lookup no longer than its context allows.
func TestDKIMDeadline(t *testing.T) {
	k := dkimKeys()
	srv := dkimKeyZone(t)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	signed := dkimSignAs(t, dkimHeader+"\r\n"+dkimBody(10<<10), "ed", k.ed, "relaxed", "relaxed")
	srv.SetDelay(time.Second)
	defer srv.SetDelay(0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Verify(ctx, r, strings.NewReader(signed), Options{})
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("took %v", d)
	}
	if len(res) != 1 || res[0].Result != dnsauth.TempError {
		t.Errorf("got %+v, want temperror", res)
	}
}

// dkimHeapAfterGC is the live heap after a collection.
func dkimHeapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A 50 MB body, streamed in 64 KiB chunks, leaves the live heap where it
// was: the verifier holds the pipe and hash states, not the message. The
// same for 50 MB of empty lines, which go-msgauth would otherwise keep.
func TestDKIMMemoryFlat(t *testing.T) {
	k := dkimKeys()
	r := dkimResolver(t, dkimKeyZone(t))
	const size = 50 << 20
	// sign streams n bytes of chunk repeated through go-msgauth's signer.
	sign := func(t *testing.T, head string, chunk []byte, n int, c msgauth.Canonicalization) string {
		signer, err := msgauth.NewSigner(&msgauth.SignOptions{Domain: "example.org", Selector: "ed", Signer: k.ed,
			HeaderCanonicalization: c, BodyCanonicalization: c, HeaderKeys: []string{"From", "Subject"}})
		if err != nil {
			t.Fatal(err)
		}
		signer.Write([]byte(head))
		for i := 0; i < n; i += len(chunk) {
			signer.Write(chunk)
		}
		if err := signer.Close(); err != nil {
			t.Fatal(err)
		}
		return signer.Signature()
	}
	const head = "From: alice@example.org\r\nSubject: big\r\n\r\n"
	test := func(name string, chunk []byte, c msgauth.Canonicalization, want dnsauth.Result) {
		t.Run(name, func(t *testing.T) {
			// go-msgauth's own signer needs time quadratic in a run of
			// empty lines: that message is signed over a short body, the
			// verifier gives up on it before the hash matters anyway.
			n := size
			if want != dnsauth.Pass {
				n = len(chunk)
			}
			sig := sign(t, head, chunk, n, c)
			base := dkimHeapAfterGC()
			var peak uint64
			v := NewVerifier(context.Background(), r, Options{})
			v.Write([]byte(sig + head))
			for n := 0; n < size; n += len(chunk) {
				v.Write(chunk)
				if n%(8<<20) == 0 {
					peak = max(peak, dkimHeapAfterGC())
				}
			}
			res := v.Close()
			if len(res) != 1 || res[0].Result != want {
				t.Fatalf("got %+v, want %s", res, want)
			}
			growth := int64(peak) - int64(base)
			t.Logf("%d MiB body: live heap grew by at most %d KiB while streaming", size>>20, growth>>10)
			if growth > 4<<20 {
				t.Errorf("live heap grew by %d KiB", growth>>10)
			}
		})
	}
	text := []byte(strings.Repeat(strings.Repeat("z", 70)+"  \r\n", 64<<10/74))
	test("text", text, msgauth.CanonicalizationSimple, dnsauth.Pass)
	test("empty lines", bytes.Repeat([]byte("\r\n"), 32<<10), msgauth.CanonicalizationSimple, dnsauth.Neutral)
}

// dkimBenchMessage is an RSA-2048 signed message with a body of about n
// bytes, and a resolver that already holds its key.
func dkimBenchMessage(b *testing.B, n int) ([]byte, *dnsauth.Resolver) {
	k := dkimKeys()
	r := dkimResolver(b, dkimKeyZone(b))
	msg := []byte(dkimSignAs(b, dkimHeader+"\r\n"+dkimBody(n), "rsa", k.rsa, "relaxed", "relaxed"))
	if res := dkimVerify(b, r, msg, Options{}); len(res) != 1 || res[0].Result != dnsauth.Pass {
		b.Fatalf("%+v", res)
	}
	return msg, r
}

func dkimBenchVerify(b *testing.B, n int) {
	msg, r := dkimBenchMessage(b, n)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		Verify(context.Background(), r, bytes.NewReader(msg), Options{})
	}
}

func BenchmarkDKIMVerify4KB(b *testing.B) { dkimBenchVerify(b, 4<<10) }
func BenchmarkDKIMVerify1MB(b *testing.B) { dkimBenchVerify(b, 1<<20) }

// BenchmarkDKIMLibrary1MB is go-msgauth alone on the same message, to
// show what the streaming layer adds.
func BenchmarkDKIMLibrary1MB(b *testing.B) {
	msg, r := dkimBenchMessage(b, 1<<20)
	lookup := func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) }
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{LookupTXT: lookup})
	}
}

// BenchmarkDKIMStreaming feeds a 1 MiB message through NewVerifier as
// the milter does: header fields one by one, then 64 KiB body chunks.
func BenchmarkDKIMStreaming(b *testing.B) {
	msg, r := dkimBenchMessage(b, 1<<20)
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	fields := strings.SplitAfter(string(head)+"\r\n", "\r\n")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		v := NewVerifier(context.Background(), r, Options{})
		for _, f := range fields {
			v.Write([]byte(f))
		}
		v.Write([]byte("\r\n"))
		for rest := body; len(rest) > 0; {
			n := min(64<<10, len(rest))
			v.Write(rest[:n])
			rest = rest[n:]
		}
		if res := v.Close(); len(res) != 1 || res[0].Result != dnsauth.Pass {
			b.Fatalf("%+v", res)
		}
	}
}

func TestParseDKIMSignature(t *testing.T) {
	const good = "v=1; a=rsa-sha256; c=relaxed/simple; d=Example.org; s=sel;\r\n\t" +
		"i=joe@mail.example.org; t=1700000000; x=1800000000; q=dns/txt;\r\n\t" +
		"h=From : To:\r\n\tSubject; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n\t" +
		"b=AbCd\r\n\tEfGhIjKl mnopqr=="
	info, err := ParseSignature(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Signature{Version: "1", Algorithm: "rsa-sha256", Domain: "Example.org", Selector: "sel",
		Identifier: "joe@mail.example.org", Canonicalization: "relaxed/simple",
		Headers: []string{"from", "to", "subject"}, Signature: "AbCdEfGh",
		Timestamp: time.Unix(1700000000, 0), Expires: time.Unix(1800000000, 0)}
	if fmt.Sprint(info) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", info, want)
	}

	test := func(edit func(string) string, wantErr string) {
		t.Helper()
		value := edit(good)
		info, err := ParseSignature(value)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%q: %v", value, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%q: error %v, want %q", value, err, wantErr)
		}
		if info.Domain == "" && !strings.Contains(value, "d=;") && !strings.Contains(value, "tag without") {
			t.Errorf("%q: lost d= (%+v)", value, info)
		}
	}
	test(dkimReplace("v=1", "v=2"), "unsupported version")
	test(dkimReplace("a=rsa-sha256", "a=rsa-sha1"), "RFC 8301")
	test(dkimReplace("a=rsa-sha256", "a=ed25519-sha256"), "")
	test(dkimReplace("a=rsa-sha256", "a=RSA-SHA256"), "unsupported algorithm")
	test(dkimReplace("c=relaxed/simple", "c=relaxed/future"), "canonicalization")
	test(dkimReplace("c=relaxed/simple", "c=relaxed"), "")
	test(dkimReplace("s=sel;", "s=sel; s=other;"), "duplicate tag s=")
	test(dkimReplace("s=sel;", "s=sel; zz=1; zz=2;"), "") // unknown tags are not checked
	test(dkimReplace("s=sel;", "s=sel; bogus;"), "tag without '='")
	test(dkimReplace("s=sel;", "s=sel;;;"), "")
	test(dkimReplace("s=sel;", ""), "missing required tag s=")
	test(dkimReplace("From : ", "Sender:"), "From")
	test(dkimReplace("i=joe@mail.example.org", "i=joe@example.net"), "not within d=")
	test(dkimReplace("i=joe@mail.example.org", "i=@EXAMPLE.ORG"), "")
	test(dkimReplace("i=joe@mail.example.org", "i=joe@badexample.org"), "not within d=")
	test(dkimReplace("t=1700000000", "t=soon"), "bad t=")
	test(dkimReplace("x=1800000000", "x=1e9"), "bad x=")
	test(dkimReplace("q=dns/txt", "q=http"), "query method")
	test(dkimReplace("q=dns/txt", "q=http:dns/txt"), "")
	test(dkimReplace("mnopqr==", "mnopqr="), "base64")
	test(dkimReplace("bh=2jUSOH9", "bh=2jUS-H9"), "base64")
	test(func(v string) string { return v + "; l=100" }, "")
	test(func(v string) string { return "d=;" + strings.Replace(v, "d=Example.org;", "", 1) }, "empty d=")

	info, _ = ParseSignature(good + "; l=10")
	if !info.BodyLength {
		t.Error("l= not seen")
	}
	// header.b skips folding, and is short when b= is.
	for in, want := range map[string]string{"b= \r\n\tAb Cd": "AbCd", "b=": "", "b=abcdefghijk": "abcdefgh"} {
		if info, _ := ParseSignature(in); info.Signature != want {
			t.Errorf("%q: Signature %q, want %q", in, info.Signature, want)
		}
	}
}

// ParseSignature allocates little: the strings it returns are pieces
// of its input when no folding has to be removed.
func TestParseDKIMSignatureAllocs(t *testing.T) {
	const value = "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=sel; h=from:to:subject; " +
		"bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AbCdEfGhIjKlmnop"
	allocs := testing.AllocsPerRun(100, func() { ParseSignature(value) })
	if allocs > 2 {
		t.Errorf("%v allocations per call, want at most 2 (the h= list)", allocs)
	}
}

// Header blocks that are not a header block: the verifier reports what
// it finds and never passes anything.
func TestDKIMGarbageHeader(t *testing.T) {
	r := dkimResolver(t, dkimKeyZone(t))
	noise := make([]byte, 64<<10)
	rand.Read(noise)
	for name, msg := range map[string]string{
		"random bytes":        string(noise),
		"no colon":            "DKIM-Signature\r\nFrom a@example.org\r\n\r\nbody\r\n",
		"empty value":         "DKIM-Signature:\r\n\r\nbody\r\n",
		"continuation first":  " DKIM-Signature: v=1\r\nDKIM-Signature: v=1; d=x\r\n\r\n",
		"NUL bytes":           "DKIM-Signature: v=1;\x00 d=example.org\r\nFrom:\x00\r\n\r\n\x00",
		"odd name spelling":   "dkim-signature : v=1; a=rsa-sha256\r\nDKIM-SIGNATURE: d=example.org\r\n\r\n",
		"Kelvin sign in name": "D\u212aIM-Signature: v=1; d=example.org\r\n\r\n",
		"lone CRs":            "DKIM-Signature: v=1;\r d=example.org\r\r\nFrom: a\r\r\n\r\nx\r",
		"only LF":             "\n\n\n",
		"long line":           "DKIM-Signature: " + strings.Repeat("a=b;", 100000) + "\r\n\r\n",
	} {
		res := dkimVerify(t, r, []byte(msg), Options{})
		for _, x := range res {
			if x.Result == dnsauth.Pass || x.Reason == "" {
				t.Errorf("%s: %+v", name, x)
			}
		}
	}
}

// dkimFuzzSeeds adds signed messages, good and odd, to a fuzz corpus.
func dkimFuzzSeeds(f *testing.F) {
	k := dkimKeys()
	msg := dkimHeader + "\r\n" + dkimBody(1<<10)
	f.Add([]byte(dkimSignAs(f, msg, "rsa", k.rsa, "relaxed", "relaxed")))
	f.Add([]byte(dkimSignAs(f, dkimSignAs(f, msg, "ed", k.ed, "simple", "simple"), "rsa", k.rsa, "simple", "relaxed")))
	// Real signed messages from the conformance data, when it is there.
	for _, elem := range [][]string{{"dkim-rfc8463", "rfc8463-signed.eml"}, {"dkim-dkimpy", "ed25519test2.msg"}} {
		if _, ok := dnstest.OptionalTestdata(f, elem...); ok {
			f.Add(dkimRead(f, elem...))
		}
	}
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=rsa; h=from; bh=; b=\r\n\r\n"))
}

func FuzzParseSignature(f *testing.F) {
	dkimFuzzSeeds(f)
	f.Add([]byte("v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA; i=@example.org; x=1; t=0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		value := string(data)
		if head, _, ok := strings.Cut(value, "\r\n\r\n"); ok {
			value = strings.TrimPrefix(head, "DKIM-Signature:")
		}
		info, err := ParseSignature(value)
		if err != nil {
			return
		}
		if info.Version != "1" || info.Domain == "" || info.Selector == "" || !slices.Contains(info.Headers, "from") {
			t.Errorf("accepted %q as %+v", value, info)
		}
		if len(info.Signature) > dkimSigPrefix {
			t.Errorf("header.b %q is long", info.Signature)
		}
		if info.Algorithm != "rsa-sha256" && info.Algorithm != "ed25519-sha256" {
			t.Errorf("accepted a=%q", info.Algorithm)
		}
	})
}

func FuzzVerify(f *testing.F) {
	dkimFuzzSeeds(f)
	r := dkimResolver(f, dkimKeyZone(f))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res := Verify(ctx, r, bytes.NewReader(msg), Options{})
		var block []byte
		if head, _, ok := bytes.Cut(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\n\n")); ok {
			block = head
		} else {
			block = msg
		}
		if len(block) < dkimMaxHeaderBytes/2 && len(res) > bytes.Count(bytes.ToLower(block), []byte("dkim-signature"))+
			strings.Count(string(block), "\u212a") {
			t.Errorf("%d results for a header with fewer signatures", len(res))
		}
		for _, x := range res {
			if x.Result != dnsauth.Pass && x.Reason == "" {
				t.Errorf("%+v has no reason", x)
			}
		}
	})
}

// A message that cannot be read to its end gives temperror for the
// signatures seen, whether it broke off in the header or in the body.
func TestDKIMReadError(t *testing.T) {
	k := dkimKeys()
	r := dkimResolver(t, dkimKeyZone(t))
	signed := dkimSignAs(t, dkimHeader+"\r\n"+dkimBody(8<<10), "ed", k.ed, "relaxed", "relaxed")
	for name, cut := range map[string]int{"in the header": strings.Index(signed, "Subject:"), "in the body": len(signed) - 100} {
		msg := io.MultiReader(strings.NewReader(signed[:cut]), iotest.ErrReader(errors.New("disk on fire")))
		res := Verify(context.Background(), r, msg, Options{})
		if len(res) != 1 || res[0].Result != dnsauth.TempError || !strings.Contains(res[0].Reason, "disk on fire") {
			t.Errorf("%s: %+v", name, res)
		}
	}
}

// header.b is the first 8 characters of b=, longer where two different
// signatures start alike (RFC 6008 §2); copies of one signature share it.
func TestDKIMSignaturePrefixes(t *testing.T) {
	r := dkimResolver(t, dkimKeyZone(t))
	sig := func(b string) string {
		return "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=none; h=from; bh=AAAA; b=" + b + "\r\n"
	}
	msg := sig("AAAAAAAAxyzw") + sig("AAAAAAAAqrst") + sig("AAAA\r\n AAAAxyzw") + sig("BBBBBBBBBBBB") + sig("Ab") +
		"From: a@example.org\r\n\r\n"
	var got []string
	for _, x := range dkimVerify(t, r, []byte(msg), Options{}) {
		got = append(got, x.Signature)
	}
	if g := strings.Join(got, " "); g != "AAAAAAAAx AAAAAAAAq AAAAAAAAx BBBBBBBB Ab" {
		t.Errorf("header.b values %s", g)
	}
}

// What go-msgauth may hand back besides verdicts: an error for the whole
// header block, too many signatures, a panic, or fewer verdicts than
// signatures. Each becomes a result with a reason.
func TestDKIMOutcomes(t *testing.T) {
	test := func(name string, out dkimOutcome, want string) {
		t.Run(name, func(t *testing.T) {
			v := NewVerifier(context.Background(), nil, Options{})
			for _, d := range []string{"a.example", "b.example"} {
				s := &dkimSig{result: Result{Domain: d}}
				v.sigs = append(v.sigs, s)
				v.verified = append(v.verified, s)
			}
			v.apply(out)
			v.finish()
			var got []string
			for _, r := range v.results {
				got = append(got, string(r.Result)+": "+r.Reason)
			}
			if g := strings.Join(got, "; "); g != want {
				t.Errorf("got  %s\nwant %s", g, want)
			}
		})
	}
	pass := &msgauth.Verification{}
	test("header error", dkimOutcome{err: errors.New("dkim: failed to read header: EOF")},
		"permerror: header could not be verified: failed to read header: EOF; permerror: header could not be verified: failed to read header: EOF")
	test("too many", dkimOutcome{verifs: []*msgauth.Verification{pass, pass}, err: msgauth.ErrTooManySignatures}, "pass: ; pass: ")
	test("panic", dkimOutcome{panic: "index out of range"},
		"permerror: verifier failed: index out of range; permerror: verifier failed: index out of range")
	test("one verdict", dkimOutcome{verifs: []*msgauth.Verification{pass}}, "pass: ; permerror: no verdict from the verifier")
}

// dkimPanicDNS is a resolver with a bug: it panics. It stands for any
// failure inside the verification goroutines, which must not take the
// daemon down.
type dkimPanicDNS struct{ dnsauth.DNS }

func (dkimPanicDNS) LookupTXT(context.Context, string) ([]string, error) { panic("resolver bug") }

func TestDKIMPanicContained(t *testing.T) {
	k := dkimKeys()
	msg := dkimHeader + "\r\n" + dkimBody(1<<10)
	one := dkimSignAs(t, msg, "ed", k.ed, "relaxed", "relaxed")
	for name, signed := range map[string]string{"one signature": one, "two signatures": dkimSignAs(t, one, "rsa", k.rsa, "simple", "simple")} {
		for _, res := range dkimVerify(t, dkimPanicDNS{}, []byte(signed), Options{}) {
			if res.Result != dnsauth.PermError || !strings.Contains(res.Reason, "resolver bug") {
				t.Errorf("%s: %+v", name, res)
			}
		}
	}
}
