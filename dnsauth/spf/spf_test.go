package spf

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

var spfUpdate = flag.Bool("spf-update", false, "rewrite the SPF golden files in testdata/")

// spfTestZone is the DNS behind the Check table tests.
const spfTestZone = `
example.org.           TXT "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all"
_spf.example.net.      TXT "v=spf1 include:_spf2.example.net ~all"
_spf2.example.net.     TXT "v=spf1 ip6:2001:db8::/32 include:_spf3.example.net -all"
_spf3.example.net.     TXT "v=spf1 ip4:198.51.100.7 -all"
example.org.           TXT "google-site-verification=abc"
helo.example.org.      TXT "v=spf1 a -all"
helo.example.org.      A   192.0.2.77
macro.example.org.     TXT "v=spf1 exists:%{l}.%{d}.%{i}._spf.example.org -all"
alice.macro.example.org.203.0.113.5._spf.example.org. A 127.0.0.2
mx.sender.example.     TXT "v=spf1 exists:%{l}.%{h}.chk.example.org -all"
postmaster.mx.sender.example.chk.example.org. A 127.0.0.2
mxhost.example.org.    TXT "v=spf1 mx/24 -all"
mxhost.example.org.    MX  10 mail.mxhost.example.org.
mail.mxhost.example.org. A 192.0.2.130
soft.example.org.      TXT "v=spf1 ~all"
neutral.example.org.   TXT "v=spf1 ?all"
empty.example.org.     TXT "v=spf1"
other.example.org.     TXT "not an spf record"
redirect.example.org.  TXT "v=spf1 redirect=example.org"
multi.example.org.     TXT "v=spf1 -all"
multi.example.org.     TXT "v=spf1 +all"
broken.example.org.    TXT "v=spf1 ip4:192.0.2.1 ip4:1.2.3.4/99 -all"
badinc.example.org.    TXT "v=spf1 include:broken.example.org -all"
noinc.example.org.     TXT "v=spf1 include:nothing.example.org -all"
void2.example.org.     TXT "v=spf1 a:nx1.example.org a:nx2.example.org -all"
void3.example.org.     TXT "v=spf1 a:nx1.example.org a:nx2.example.org a:nx3.example.org -all"
inc10.example.org.     TXT "v=spf1 include:i1.example.org include:i2.example.org include:i3.example.org include:i4.example.org include:i5.example.org include:i6.example.org include:i7.example.org include:i8.example.org include:i9.example.org include:i10.example.org -all"
inc11.example.org.     TXT "v=spf1 include:i1.example.org include:i2.example.org include:i3.example.org include:i4.example.org include:i5.example.org include:i6.example.org include:i7.example.org include:i8.example.org include:i9.example.org include:i10.example.org include:i11.example.org -all"
tempinc.example.org.   TXT "v=spf1 include:servfail.example.org -all"
xn--bcher-kva.example. TXT "v=spf1 ip4:192.0.2.0/24 -all"
`

// spfNewDNS starts a dnstest server, trying again when the free UDP port
// it picked is taken for TCP: under heavy connection churn (fuzzing with
// TCP fallbacks) that happens often enough to kill a fuzz worker.
func spfNewDNS(tb testing.TB, zone string) *dnstest.Server {
	tb.Helper()
	var err error
	for range 20 {
		var srv *dnstest.Server
		if srv, err = dnstest.Start("127.0.0.1:0", zone); err == nil {
			tb.Cleanup(srv.Stop)
			return srv
		}
	}
	tb.Fatalf("dnstest: %v", err)
	return nil
}

// spfTestDNS serves spfTestZone (plus i1…i11 and the faults) through the
// caching resolver.
func spfTestDNS(tb testing.TB) (*dnstest.Server, *dnsauth.Resolver) {
	tb.Helper()
	srv := spfNewDNS(tb, spfTestZone)
	for i := 1; i <= 11; i++ {
		srv.MustAdd(tb, "i"+strconv.Itoa(i)+".example.org. TXT \"v=spf1 -all\"")
	}
	srv.SetFault("servfail.example.org", dnstest.ServFail)
	srv.SetFault("timeout.example.org", dnstest.Timeout)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, r
}

func TestCheckSPF(t *testing.T) {
	_, r := spfTestDNS(t)
	test := func(name, ip, helo, mailFrom string, want dnsauth.Result, reason string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			got := Check(context.Background(), r, netip.MustParseAddr(ip), helo, mailFrom)
			if got.Result != want || got.Identity != "mailfrom" || !strings.Contains(got.Reason, reason) {
				t.Errorf("Check(%s, %q, %q) = %s, %q; want %s, reason containing %q\ntrace:\n%s",
					ip, helo, mailFrom, got.Result, got.Reason, want, reason, strings.Join(got.Trace, "\n"))
			}
		})
	}
	// Results and the terms that decide them.
	test("ip4 pass", "192.0.2.10", "mx.example.com", "a@example.org", dnsauth.Pass,
		"192.0.2.10 is permitted by example.org's SPF record (ip4:192.0.2.0/24)")
	test("include chain pass", "198.51.100.7", "mx.example.com", "a@example.org", dnsauth.Pass,
		"198.51.100.7 is permitted by example.org's SPF record (include:_spf.example.net)")
	test("ip6 in include", "2001:db8::25", "mx.example.com", "a@example.org", dnsauth.Pass, "(include:_spf.example.net)")
	test("fail", "203.0.113.9", "mx.example.com", "a@example.org", dnsauth.Fail,
		"203.0.113.9 is not permitted by example.org's SPF record (-all)")
	test("ipv4-mapped client", "::ffff:192.0.2.10", "mx.example.com", "a@example.org", dnsauth.Pass, "192.0.2.10 is permitted")
	test("softfail", "203.0.113.9", "x.example", "a@soft.example.org", dnsauth.SoftFail, "soft fail (~all)")
	test("neutral", "203.0.113.9", "x.example", "a@neutral.example.org", dnsauth.Neutral, "makes no assertion about 203.0.113.9 (?all)")
	test("empty record", "203.0.113.9", "x.example", "a@empty.example.org", dnsauth.Neutral, "neutral by default")
	test("redirect", "203.0.113.9", "x.example", "a@redirect.example.org", dnsauth.Fail, "(redirect=example.org)")
	test("mx with cidr", "192.0.2.131", "x.example", "a@mxhost.example.org", dnsauth.Pass, "(mx/24)")
	// Macros (RFC 7208 §7): %{l}, %{d}, %{i}, and %{h} for the null sender.
	test("macro pass", "203.0.113.5", "x.example", "alice@macro.example.org", dnsauth.Pass, "(exists:%{l}.%{d}.%{i}._spf.example.org)")
	test("macro fail", "203.0.113.6", "x.example", "alice@macro.example.org", dnsauth.Fail, "(-all)")
	test("null sender", "203.0.113.9", "mx.sender.example", "", dnsauth.Pass, "mx.sender.example's SPF record")
	test("null sender brackets", "203.0.113.9", "mx.sender.example", "<>", dnsauth.Pass, "permitted")
	test("no local part is postmaster", "203.0.113.9", "mx.sender.example", "@mx.sender.example", dnsauth.Pass, "permitted")
	// None (RFC 7208 §4.3, §4.5).
	test("nxdomain", "192.0.2.10", "x.example", "a@nxdomain.example.org", dnsauth.None, "nxdomain.example.org does not exist")
	test("no spf record", "192.0.2.10", "x.example", "a@other.example.org", dnsauth.None, "publishes no SPF record")
	// Permanent errors.
	test("multiple records", "192.0.2.10", "x.example", "a@multi.example.org", dnsauth.PermError, "more than one SPF record")
	test("broken term after a match", "192.0.2.1", "x.example", "a@broken.example.org", dnsauth.PermError, `"ip4:1.2.3.4/99": bad CIDR length`)
	test("broken included record", "192.0.2.1", "x.example", "a@badinc.example.org", dnsauth.PermError, "(include:broken.example.org)")
	test("include of nothing", "192.0.2.1", "x.example", "a@noinc.example.org", dnsauth.PermError, "has no SPF record")
	test("10 includes", "192.0.2.1", "x.example", "a@inc10.example.org", dnsauth.Fail, "(-all)")
	test("11 includes", "192.0.2.1", "x.example", "a@inc11.example.org", dnsauth.PermError, "more than 10 DNS-querying terms")
	test("2 void lookups", "192.0.2.1", "x.example", "a@void2.example.org", dnsauth.Fail, "(-all)")
	test("3 void lookups", "192.0.2.1", "x.example", "a@void3.example.org", dnsauth.PermError, "more than 2 lookups found nothing")
	// Temporary errors.
	test("servfail", "192.0.2.1", "x.example", "a@servfail.example.org", dnsauth.TempError, "temporary DNS error")
	test("servfail in include", "192.0.2.1", "x.example", "a@tempinc.example.org", dnsauth.TempError, "temporary DNS error")
	test("timeout", "192.0.2.1", "x.example", "a@timeout.example.org", dnsauth.TempError, "temporary DNS error")
	// Identities that are not domains: none, no query (RFC 7208 §4.3).
	test("no at", "192.0.2.1", "x.example", "postmaster", dnsauth.None, "has no domain")
	test("empty domain", "192.0.2.1", "x.example", "a@", dnsauth.None, "is empty")
	test("address literal", "192.0.2.1", "x.example", "a@[192.0.2.1]", dnsauth.None, "address literal")
	test("ip domain", "192.0.2.1", "x.example", "a@192.0.2.1", dnsauth.None, "IP address")
	test("single label", "192.0.2.1", "x.example", "a@localhost", dnsauth.None, "single label")
	test("empty label", "192.0.2.1", "x.example", "a@a..example.org", dnsauth.None, "empty label")
	test("long label", "192.0.2.1", "x.example", "a@"+strings.Repeat("x", 64)+".example.org", dnsauth.None, "longer than 63")
	test("numeric tld", "192.0.2.1", "x.example", "a@host.123", dnsauth.None, "top-level label")
	test("bad character", "192.0.2.1", "x.example", "a@exa mple.org", dnsauth.None, "not allowed")
	test("null sender bad helo", "192.0.2.1", "[192.0.2.1]", "", dnsauth.None, "null sender and HELO")
	// Normalisation.
	test("angle brackets", "192.0.2.10", "x.example", " <a@example.org> ", dnsauth.Pass, "permitted")
	test("trailing dot", "192.0.2.10", "x.example", "a@example.org.", dnsauth.Pass, "permitted")
	test("upper case", "192.0.2.10", "x.example", "A@EXAMPLE.ORG", dnsauth.Pass, "permitted")
	test("idn domain", "192.0.2.10", "x.example", "a@bücher.example", dnsauth.Pass, "xn--bcher-kva.example")
	test("quoted at in local part", "192.0.2.10", "x.example", `"a@b"@example.org`, dnsauth.Pass, "permitted")
}

func TestCheckSPFFields(t *testing.T) {
	_, r := spfTestDNS(t)
	ctx := context.Background()
	got := Check(ctx, r, netip.MustParseAddr("203.0.113.9"), "mx.sender.example", "")
	want := Result{Result: dnsauth.Pass, Identity: "mailfrom", Domain: "mx.sender.example",
		Sender: "postmaster@mx.sender.example", IP: netip.MustParseAddr("203.0.113.9")}
	if got.Result != want.Result || got.Identity != want.Identity || got.Domain != want.Domain ||
		got.Sender != want.Sender || got.IP != want.IP {
		t.Errorf("null sender: got %+v, want %+v", got, want)
	}
	got = Check(ctx, r, netip.MustParseAddr("192.0.2.10"), "x.example", "@Example.ORG")
	if got.Sender != "postmaster@Example.ORG" || got.Domain != "example.org" {
		t.Errorf("no local part: sender %q domain %q", got.Sender, got.Domain)
	}
	got = Check(ctx, r, netip.Addr{}, "x.example", "a@example.org")
	if got.Result != dnsauth.None || !strings.Contains(got.Reason, "no client IP") {
		t.Errorf("invalid IP: %s %q", got.Result, got.Reason)
	}
}

func TestCheckSPFHelo(t *testing.T) {
	_, r := spfTestDNS(t)
	test := func(ip, helo string, want dnsauth.Result, reason string) {
		t.Helper()
		got := CheckHelo(context.Background(), r, netip.MustParseAddr(ip), helo)
		if got.Result != want || got.Identity != "helo" || !strings.Contains(got.Reason, reason) {
			t.Errorf("CheckSPFHelo(%s, %q) = %s %q; want %s, reason containing %q", ip, helo, got.Result, got.Reason, want, reason)
		}
		if want != dnsauth.None && got.Sender != "postmaster@"+strings.TrimSuffix(helo, ".") {
			t.Errorf("CheckSPFHelo(%s, %q): sender %q", ip, helo, got.Sender)
		}
	}
	test("192.0.2.77", "helo.example.org", dnsauth.Pass, "(a)")
	test("192.0.2.78", "helo.example.org", dnsauth.Fail, "(-all)")
	test("192.0.2.78", "helo.example.org.", dnsauth.Fail, "(-all)")
	test("203.0.113.9", "mx.sender.example", dnsauth.Pass, "%{l}") // %{l} is postmaster for HELO too
	test("192.0.2.1", "[192.0.2.1]", dnsauth.None, "HELO \"[192.0.2.1]\" is an address literal")
	test("192.0.2.1", "192.0.2.1", dnsauth.None, "IP address")
	test("192.0.2.1", "localhost", dnsauth.None, "single label")
	test("192.0.2.1", "", dnsauth.None, "HELO is empty")
	test("192.0.2.1", "nxdomain.example.org", dnsauth.None, "does not exist")
}

// TestCheckSPFTrace compares the readable trace of a nested evaluation
// with a golden file.
func TestCheckSPFTrace(t *testing.T) {
	_, r := spfTestDNS(t)
	test := func(golden, ip, mailFrom string) {
		t.Helper()
		got := Check(context.Background(), r, netip.MustParseAddr(ip), "mx.example.com", mailFrom)
		text := strings.Join(got.Trace, "\n") + "\n" + "reason: " + got.Reason + "\n"
		path := filepath.Join("testdata", "trace", golden)
		if *spfUpdate {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -spf-update to create it)", err)
		}
		if string(want) != text {
			t.Errorf("%s: trace differs\ngot:\n%s\nwant:\n%s", golden, text, want)
		}
	}
	test("include-chain-pass.txt", "198.51.100.7", "a@example.org")
	test("include-chain-fail.txt", "203.0.113.9", "a@example.org")
	test("macro.txt", "203.0.113.5", "alice@macro.example.org")
	test("void-limit.txt", "192.0.2.1", "a@void3.example.org")
	test("syntax-error.txt", "192.0.2.1", "a@badinc.example.org")
}

// TestCheckSPFCancelled: a caller that gives up gets temperror, never a
// permanent verdict on the domain.
func TestCheckSPFCancelled(t *testing.T) {
	srv, r := spfTestDNS(t)
	srv.SetDelay(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	got := Check(ctx, r, netip.MustParseAddr("192.0.2.10"), "x.example", "a@example.org")
	if got.Result != dnsauth.TempError {
		t.Errorf("cancelled check: %s %q", got.Result, got.Reason)
	}
}

// TestSPFDNSError: only *net.DNSError reaches the library; anything else
// becomes a temporary DNS error (the library would call it permerror).
func TestSPFDNSError(t *testing.T) {
	if spfDNSError(nil, "x") != nil {
		t.Error("nil error changed")
	}
	nx := &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}
	if spfDNSError(nx, "x") != error(nx) {
		t.Error("*net.DNSError not passed through")
	}
	got := spfDNSError(context.Canceled, "x.example")
	if !dnsauth.IsTemporary(got) || !strings.Contains(got.Error(), "context canceled") {
		t.Errorf("context.Canceled became %#v", got)
	}
	if !dnsauth.IsTemporary(spfDNSError(errors.New("boom"), "x")) {
		t.Error("plain error is not temporary")
	}
}

// BenchmarkCheckSPF measures one check per message with a warm cache: an
// include chain three deep that ends in a pass.
func BenchmarkCheckSPF(b *testing.B) {
	_, r := spfTestDNS(b)
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.7")
	if got := Check(ctx, r, ip, "mx.example.com", "a@example.org"); got.Result != dnsauth.Pass {
		b.Fatalf("warm-up: %s %s", got.Result, got.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := Check(ctx, r, ip, "mx.example.com", "a@example.org"); got.Result != dnsauth.Pass {
			b.Fatalf("%s %s", got.Result, got.Reason)
		}
	}
}

// FuzzSPFMailFrom: any MAIL FROM and HELO give either a checkable identity
// (an ASCII multi-label domain and a sender with an "@") or a reason.
func FuzzMailFrom(f *testing.F) {
	for _, s := range []string{"a@example.org", "<>", "", "@example.org", "a@[192.0.2.1]", "a@bücher.example",
		`"a@b"@example.org`, "a@a..b", "a@192.0.2.1", "<a@example.org.>", "a@x_y.example"} {
		f.Add(s, "mx.example.net")
	}
	f.Fuzz(func(t *testing.T, mailFrom, helo string) {
		sender, domain, why := spfMailFrom(helo, mailFrom)
		if why != "" {
			return
		}
		if reason := spfDomainSyntax(domain); reason != "" || !spfASCII(domain) {
			t.Fatalf("spfMailFrom(%q, %q) accepted domain %q: %s", helo, mailFrom, domain, reason)
		}
		if at := strings.IndexByte(sender, '@'); at < 0 || !strings.EqualFold(sender[at+1:], domain) {
			t.Fatalf("spfMailFrom(%q, %q): sender %q does not end in @%s", helo, mailFrom, sender, domain)
		}
	})
}

// FuzzSPFCheck serves a fuzzed record and checks it: the result is always
// one of the RFC's, and a record that breaks the grammar is a permerror.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", "v=spf1 ip4:192.0.2.0/24 -all", "v=spf1 include:_spf.example.net ~all",
		"v=spf1 a mx/24 ptr exists:%{i}.x.example redirect=example.org", "v=spf1 ip4:192.0.2.1 ip4:1.2.3.4/99",
		"v=spf1 a:%{l}.%{d2}.example -all", "v=spf1 redirect=fuzz.example"} {
		f.Add(s)
	}
	srv, r := spfTestDNS(f)
	n := 0
	f.Fuzz(func(t *testing.T, txt string) {
		n++
		name := "r" + strconv.Itoa(n) + ".fuzz.example"
		srv.AddRR(spfFuzzTXT(name, txt))
		defer srv.Remove(name)
		// A hang must show up as a crash with its input, not as a stalled worker.
		watchdog := time.AfterFunc(20*time.Second, func() {
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			panic("Check hangs on " + strconv.Quote(txt))
		})
		defer watchdog.Stop()
		got := Check(context.Background(), r, netip.MustParseAddr("192.0.2.1"), "mx.example.net", "a@"+name)
		switch got.Result {
		case dnsauth.None, dnsauth.Neutral, dnsauth.Pass, dnsauth.Fail, dnsauth.SoftFail, dnsauth.TempError, dnsauth.PermError:
		default:
			t.Fatalf("%q: result %q", txt, got.Result)
		}
		// The resolver hands TXT data back in presentation form, so the
		// grammar property holds only for records it passes on unchanged.
		if IsRecord(txt) && spfPrintable(txt) && spfCheckRecord(txt) != nil && got.Result != dnsauth.PermError {
			t.Fatalf("%q breaks the grammar (%v) but gives %s: %s", txt, spfCheckRecord(txt), got.Result, got.Reason)
		}
	})
}

func spfFuzzTXT(name, txt string) dns.RR {
	var parts []string
	for len(txt) > 255 {
		parts, txt = append(parts, txt[:255]), txt[255:]
	}
	parts = append(parts, txt)
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, `\`, `\\`)
	}
	return &dns.TXT{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: parts}
}

// spfPrintable: only printable ASCII, and neither of the two characters
// the resolver escapes.
func spfPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}
