package dnsauth

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "unsafe" // for go:linkname to go-msgauth's clock

	_ "github.com/emersion/go-msgauth/dkim" // its clock, linked below
	"github.com/miekg/dns"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"gopkg.in/yaml.v3"
)

// dkimLibraryNow is go-msgauth's clock for x= (a package variable it does
// not let callers set). Tests that replay old signed messages pin it with
// dkimPinClock; those tests never run in parallel.
//
//go:linkname dkimLibraryNow github.com/emersion/go-msgauth/dkim.now
var dkimLibraryNow func() time.Time

// dkimPinClock sets both clocks, ours (returned as DKIMOptions.Now) and
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
func dkimResolver(t testing.TB, srv *dnstest.Server) *Resolver {
	t.Helper()
	r, err := NewResolver(ResolverConfig{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
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

// dkimVerify verifies msg through VerifyDKIM with a 5 s budget.
func dkimVerify(t testing.TB, r DNS, msg []byte, opts DKIMOptions) []DKIMResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return VerifyDKIM(ctx, r, bytes.NewReader(msg), opts)
}

// dkimSummary is "result(d/s)" per signature, for compact comparisons.
func dkimSummary(res []DKIMResult) string {
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
	got := dkimVerify(t, r, msg, DKIMOptions{})
	want := []DKIMResult{
		{Result: Pass, Domain: "football.example.com", Selector: "brisbane", Identifier: "@football.example.com",
			Algorithm: "ed25519-sha256", Signature: "/gCrinpc"},
		{Result: Pass, Domain: "football.example.com", Selector: "test", Identifier: "@football.example.com",
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
			got := dkimSummary(dkimVerify(t, dkimResolver(t, srv), []byte(message), DKIMOptions{}))
			if got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	both := func(r Result) string {
		return fmt.Sprintf("%s(football.example.com/brisbane) %s(football.example.com/test)", r, r)
	}
	test("body changed", strings.Replace(msg, "Joe.", "Joe!", 1), nil, both(Fail))
	test("subject changed", strings.Replace(msg, "Subject: Is dinner ready?", "Subject: Is dinner ready!", 1), nil, both(Fail))
	test("second From", strings.Replace(msg, "To: Suzie", "From: Mallory <m@example.net>\r\nTo: Suzie", 1), nil, both(Fail))
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
	if got := dkimSummary(dkimVerify(t, r, signed, DKIMOptions{})); got !=
		"pass(football.example.com/brisbane) pass(football.example.com/test)" {
		t.Errorf("rfc6376.signed.msg: %s", got)
	}
	if got := dkimSummary(dkimVerify(t, r, dkimRead(t, "dkim-dkimpy", "ed25519test2.msg"), DKIMOptions{})); got != "pass(test.ex/sed)" {
		t.Errorf("ed25519test2.msg: %s", got)
	}

	// The RSA signature of rfc6376.signed.msg against each key record.
	for _, c := range []struct {
		file string
		want Result
	}{
		{"test.txt", Pass},  // legacy g=* is ignored
		{"test2.txt", Pass}, // k= defaults to rsa
		// The corrupted last bytes break the key's DER encoding, so the key
		// is unusable (permerror, RFC 6376 §6.1.2), not merely wrong (fail).
		{"test_bad.txt", PermError},
		{"badversion.txt", PermError}, // "v=DKIM1:" is not DKIM1
		{"badk.txt", PermError},       // k=ed25519-sha256 is no key type
	} {
		rec := strings.TrimSpace(string(dkimRead(t, "dkim-dkimpy", c.file)))
		srv := dkimServer(t, records)
		srv.Remove("test._domainkey.football.example.com")
		dkimAddTXT(srv, "test._domainkey.football.example.com", rec)
		res := dkimVerify(t, dkimResolver(t, srv), signed, DKIMOptions{})
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
		res  []DKIMResult
	}
	replay := func(opts DKIMOptions) []run {
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

	pinned := replay(DKIMOptions{Now: dkimPinClock(t, 1667843664)})
	for _, r := range pinned {
		if len(r.res) == 0 || r.res[len(r.res)-1].Result != Pass {
			t.Errorf("%s at the fixed time: %s, want the last signature to pass", r.file, dkimSummary(r.res))
		}
		for _, res := range r.res {
			if res.Result != Pass {
				t.Errorf("%s at the fixed time: %+v", r.file, res)
			}
		}
	}

	dkimLibraryNow = time.Now
	for _, r := range replay(DKIMOptions{}) {
		last := r.res[len(r.res)-1]
		switch {
		case r.file == "005.txt" && (last.Result != PermError || !strings.Contains(last.Reason, "expired")):
			t.Errorf("005.txt now: %+v, want permerror, expired", last)
		case r.file != "005.txt" && last.Result != Pass:
			t.Errorf("%s now: %+v, want pass", r.file, last)
		}
	}
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
// which predates RFC 8301: where the manifest notes that rsa-sha1 or an
// RSA key under 1024 bits is involved, the expectation here is "invalid"
// (permerror), since such a signature is refused before its hash is
// checked (RFC 8301 §3.1, §3.2; RFC 6376 §6.1.1), even for the bad_* files
// that Mail::DKIM calls "fail" and the DNS-error files badkey_14 and
// badkey_15. Files with DomainKey-Signature only give no result.
func TestDKIMMailDKIMCorpus(t *testing.T) {
	var m dkimManifest
	if err := yaml.Unmarshal(dkimRead(t, "dkim-mail-dkim-perl", "manifest.yaml"), &m); err != nil {
		t.Fatal(err)
	}
	srv := dkimFakeDNS(t, string(dkimRead(t, "dkim-mail-dkim-perl", "FAKE_DNS.dat")))
	r := dkimResolver(t, srv)
	asIs, adjusted, deviations, domainKeys := 0, 0, 0, 0
	for _, c := range m.Cases {
		msg := dkimRead(t, "dkim-mail-dkim-perl", c.File)
		res := dkimVerify(t, r, msg, DKIMOptions{})
		if c.Sigs[0].Kind == "DomainKeys" {
			domainKeys++
			if len(res) != 0 {
				t.Errorf("%s (DomainKeys only): %s, want no result", c.File, dkimSummary(res))
			}
			continue
		}
		want := c.Expected
		switch {
		case dkimMailDKIMDeviations[c.File] != "":
			want = "invalid"
			deviations++
		case c.RFC8301Note != "" && want != "invalid":
			want = "invalid"
			adjusted++
		default:
			asIs++
		}
		if got := dkimMailDKIMWord(res); got != want {
			t.Errorf("%s: %s (%s), want %s", c.File, got, dkimSummary(res), want)
			for _, r := range res {
				t.Logf("  %+v", r)
			}
		}
	}
	t.Logf("Mail::DKIM corpus: %d files: %d as upstream expects, %d under RFC 8301 rules, %d listed deviations, %d DomainKeys-only (none)",
		len(m.Cases), asIs, adjusted, deviations, domainKeys)
	if len(m.Cases) != 79 {
		t.Errorf("manifest has %d cases, want 79", len(m.Cases))
	}
}

// dkimMailDKIMDeviations are the corpus files whose outcome here differs
// from Mail::DKIM's for a reason other than RFC 8301, with that reason.
var dkimMailDKIMDeviations = map[string]string{
	"corpus/mine_ietf01_3.txt": "pre-RFC draft signature without v=, which RFC 6376 §3.5 requires: permerror",
	"corpus/mine_ietf01_4.txt": "pre-RFC draft signature without v=, which RFC 6376 §3.5 requires: permerror",
}

// dkimMailDKIMWord says a message's outcome in Mail::DKIM's words: pass if
// any signature passes, else fail if any fails, else invalid.
func dkimMailDKIMWord(res []DKIMResult) string {
	word := "invalid"
	for _, r := range res {
		switch r.Result {
		case Pass:
			return "pass"
		case Fail:
			word = "fail"
		}
	}
	return word
}
