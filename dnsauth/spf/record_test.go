package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

func TestParse(t *testing.T) {
	test := func(txt string, want Record) {
		t.Helper()
		got, err := Parse(txt)
		if err != nil {
			t.Errorf("Parse(%q): %v", txt, err)
			return
		}
		want.Raw = txt
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", txt, *got, want)
		}
	}
	term := func(q byte, mech, value string, p4, p6 int) Term {
		return Term{Qualifier: q, Mechanism: mech, Value: value, Prefix4: p4, Prefix6: p6}
	}
	test("v=spf1", Record{})
	test("v=spf1 ", Record{})
	test("v=spf1 -all", Record{Terms: []Term{term('-', "all", "", 32, 128)}, All: "-all"})
	test("V=SPF1  IP4:192.0.2.1   ~ALL  ", Record{
		Terms: []Term{term('+', "ip4", "192.0.2.1", 32, 128), term('~', "all", "", 32, 128)}, All: "~all"})
	test("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.org/24//64 a//64 ?ptr "+
		"-exists:%{i}._spf.example.net include:_spf.example.net redirect=other.example exp=explain.%{d} foo=bar", Record{
		Terms: []Term{
			term('+', "ip4", "192.0.2.0", 24, 128),
			term('+', "ip6", "2001:db8::", 32, 32),
			term('+', "a", "", 32, 128),
			term('+', "mx", "mail.example.org", 24, 64),
			term('+', "a", "", 32, 64),
			term('?', "ptr", "", 32, 128),
			term('-', "exists", "%{i}._spf.example.net", 32, 128),
			term('+', "include", "_spf.example.net", 32, 128),
		},
		Redirect: "other.example", Exp: "explain.%{d}",
	})
	// ip6 with an explicit length keeps Prefix4 at its default.
	test("v=spf1 ip6:2001:db8::1", Record{Terms: []Term{term('+', "ip6", "2001:db8::1", 32, 128)}})
	// A domain-spec may hold ":" and "/" (RFC 7208 §7.1); the CIDR length is the tail.
	test("v=spf1 a:foo:bar/baz.example.com", Record{Terms: []Term{term('+', "a", "foo:bar/baz.example.com", 32, 128)}})
	test("v=spf1 a:foo:bar/baz.example.com/24", Record{Terms: []Term{term('+', "a", "foo:bar/baz.example.com", 24, 128)}})
	test("v=spf1 mx/0 a/24//0", Record{Terms: []Term{term('+', "mx", "", 0, 128), term('+', "a", "", 24, 0)}})
	test("v=spf1 a:%{d} a:example.com. a:foo.xn--zckzah a:%{l1r-}.%{D2}.example", Record{Terms: []Term{
		term('+', "a", "%{d}", 32, 128), term('+', "a", "example.com.", 32, 128),
		term('+', "a", "foo.xn--zckzah", 32, 128), term('+', "a", "%{l1r-}.%{D2}.example", 32, 128)}})
	test("v=spf1 include:%%%_%-.example.org", Record{Terms: []Term{term('+', "include", "%%%_%-.example.org", 32, 128)}})
	// The first all decides; later ones are kept as terms.
	test("v=spf1 ?all -all", Record{Terms: []Term{term('?', "all", "", 32, 128), term('-', "all", "", 32, 128)}, All: "?all"})
}

func TestParseErrors(t *testing.T) {
	test := func(txt, want string) {
		t.Helper()
		_, err := Parse(txt)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want an *SyntaxError containing %q", txt, err, want)
		}
		if spfCheckRecord(txt) == nil {
			t.Errorf("spfCheckRecord(%q) accepts what Parse rejects", txt)
		}
	}
	test("", `does not start with "v=spf1"`)
	test("v=spf10 -all", `does not start with "v=spf1"`)
	test("v=spf2.0/pra -all", `does not start with "v=spf1"`)
	test("spf1 -all", `does not start with "v=spf1"`)
	test("v=spf1 ip4:192.0.2.1/33", `term 1 "ip4:192.0.2.1/33": bad CIDR length "33" (0-32)`)
	test("v=spf1 ip4:192.0.2.1/024", `bad CIDR length "024"`)
	test("v=spf1 ip4:192.0.2.1/", `bad CIDR length ""`)
	test("v=spf1 ip4:01.2.3.4", `bad ip4 address "01.2.3.4"`)
	test("v=spf1 ip4:2001:db8::1", `bad ip4 address`)
	test("v=spf1 ip6:192.0.2.1", `bad ip6 address`)
	test("v=spf1 ip6:fe80::1%eth0", `bad ip6 address`)
	test("v=spf1 ip6:2001:db8::/129", `(0-128)`)
	test("v=spf1 ip4", `"ip4" needs ":" and an address`)
	test("v=spf1 ip4:", `"ip4" needs ":" and an address`)
	test("v=spf1 a:", "empty domain")
	test("v=spf1 a:/24", "empty domain")
	test("v=spf1 a:localhost", "is a single label")
	test("v=spf1 a:example.", "is a single label")
	test("v=spf1 a:1.2.3.4", "does not end in a valid top label")
	test("v=spf1 a:foo.-com", "does not end in a valid top label")
	test("v=spf1 a:foo.com-", "does not end in a valid top label")
	test("v=spf1 a/33", `bad IPv4 CIDR length "33"`)
	test("v=spf1 mx//129", `bad IPv6 CIDR length "129"`)
	test("v=spf1 mx/", `bad CIDR length "/"`)
	test("v=spf1 mx///64", `bad CIDR length "/"`)
	test("v=spf1 mx/24/", `bad CIDR length "/24/"`)
	test("v=spf1 ptr/24", "ptr takes no CIDR length")
	test("v=spf1 include", `"include" needs ":" and a domain`)
	test("v=spf1 include:", "empty domain")
	test("v=spf1 exists", `"exists" needs ":" and a domain`)
	test("v=spf1 all:foo", `"all" takes no argument`)
	test("v=spf1 -all/24", `"all" takes no argument`)
	test("v=spf1 foo", `unknown mechanism "foo"`)
	test("v=spf1 redirect:example.org", `unknown mechanism "redirect"`)
	test("v=spf1 -redirect=example.org", `unknown mechanism "redirect=example.org"`)
	test("v=spf1 - -all", "empty mechanism name")
	test("v=spf1 redirect=a.example redirect=b.example", `term 2 "redirect=b.example": redirect= appears more than once`)
	test("v=spf1 exp=a.example EXP=b.example", "exp= appears more than once")
	test("v=spf1 redirect=", "empty domain")
	test("v=spf1 foo=%{z}", `bad macro letter in "%{z}"`)
	test("v=spf1 a:%{c}.example.com", "explanation text only")
	test("v=spf1 a:%{l0}.example.com", "zero digit transformer")
	test("v=spf1 a:%{l00r}.example.com", "zero digit transformer")
	test("v=spf1 a:%{l;}.example.com", "bad macro delimiter")
	test("v=spf1 a:%{}.example.com", "bad macro letter")
	test("v=spf1 a:%x.example.com", `"%" must be followed by`)
	test("v=spf1 a:example.com%", `"%" at the end`)
	test("v=spf1 a:%{l.example.com", "unterminated macro")
	test("v=spf1 a\tmx", "character 0x09 is not allowed")
	test("v=spf1 a:ctrl.example.com\rptr", "character 0x0d")
	test("v=spf1 a:\xef\xbb\xbfgarbage.example.net", "character 0xef")
	test("v=spf1 \x80a:example.net -all", "character 0x80")
}

// TestSPFTermString: every parsed term prints back as a term that parses
// to the same thing.
func TestSPFTermString(t *testing.T) {
	rec, err := Parse("v=spf1 +ip4:192.0.2.0/24 -ip6:2001:db8::/48 ~a:x.example/28//64 ?mx//96 a/0 " +
		"ptr:%{d} exists:%{i}.e.example include:i.example ip6:::1 -all")
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, term := range rec.Terms {
		parts = append(parts, term.String())
	}
	text := "v=spf1 " + strings.Join(parts, " ")
	want := "v=spf1 ip4:192.0.2.0/24 -ip6:2001:db8::/48 ~a:x.example/28//64 ?mx//96 a/0 " +
		"ptr:%{d} exists:%{i}.e.example include:i.example ip6:::1 -all"
	if text != want {
		t.Errorf("printed %q\n   want %q", text, want)
	}
	again, err := Parse(text)
	if err != nil || !reflect.DeepEqual(again.Terms, rec.Terms) {
		t.Errorf("reparse: %v %+v", err, again)
	}
}

func TestIsSPFRecord(t *testing.T) {
	for txt, want := range map[string]bool{
		"v=spf1": true, "V=SpF1 -all": true, "v=spf1 ": true,
		"v=spf10": false, "v=spf1\t-all": false, " v=spf1": false, "": false, "v=spf": false,
	} {
		if IsRecord(txt) != want {
			t.Errorf("IsSPFRecord(%q) = %v", txt, !want)
		}
	}
}

// spfAnalyzeZone is the DNS behind the Analyze tests.
const spfAnalyzeZone = `
an.example.           TXT  "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:1::/48 a a:host.an.example/28 mx/30 include:_spf.an.example -include:bad.an.example -all"
an.example.           A    192.0.2.200
an.example.           AAAA 2001:db8:2::1
host.an.example.      A    198.51.100.17
an.example.           MX   10 mx1.an.example.
an.example.           MX   20 mx2.an.example.
mx1.an.example.       A    203.0.113.1
mx2.an.example.       AAAA 2001:db8:3::25
_spf.an.example.      TXT  "v=spf1 ip4:203.0.113.128/25 -ip4:10.0.0.0/8 ?all"
bad.an.example.       TXT  "v=spf1 ip4:172.16.0.0/12 -all"

_spf.filter.example.  TXT  "v=spf1 include:_n1.filter.example include:_n2.filter.example -all"
_n1.filter.example.   TXT  "v=spf1 ip4:192.0.2.0/26 include:_n3.filter.example -all"
_n2.filter.example.   TXT  "v=spf1 ip6:2001:db8:f::/48 ~all"
_n3.filter.example.   TXT  "v=spf1 ip4:198.51.100.0/27 ip4:192.0.2.0/26 -all"

loopa.example.        TXT  "v=spf1 include:loopb.example -all"
loopb.example.        TXT  "v=spf1 include:loopa.example -all"
self.example.         TXT  "v=spf1 redirect=self.example"

c1.example.           TXT  "v=spf1 include:c2.example a mx -all"
c2.example.           TXT  "v=spf1 a:h1.c2.example exists:%{i}.c2.example redirect=c3.example"
c3.example.           TXT  "v=spf1 mx ptr ?all"
h1.c2.example.        A    192.0.2.9
c1.example.           A    192.0.2.10
c3.example.           MX   0 c3.example.
c3.example.           A    192.0.2.11

r1.example.           TXT  "v=spf1 ip4:192.0.2.1 redirect=r2.example"
r2.example.           TXT  "v=spf1 ip4:192.0.2.2 ~all"
r3.example.           TXT  "v=spf1 ip4:192.0.2.3 -all redirect=r2.example"

void.example.         TXT  "v=spf1 a:nx1.void.example a:nx2.void.example mx:nx3.void.example include:nx4.void.example -all"
multi.example.        TXT  "v=spf1 -all"
multi.example.        TXT  "v=spf1 ip4:192.0.2.1 -all"
multi.example.        TXT  "verification=1"
syntax.example.       TXT  "v=spf1 ip4:192.0.2.1 ipv4:192.0.2.2 -all"
other.example.        TXT  "not spf"
temp.example.         TXT  "v=spf1 ip4:192.0.2.1 include:servfail.example -all"
open.example.         TXT  "v=spf1 +all"
wide.example.         TXT  "v=spf1 ip4:0.0.0.0/1 ip6:::/0 ip4:10.0.0.0/8 -all"
after.example.        TXT  "v=spf1 -all ip4:192.0.2.1"
macro.example.        TXT  "v=spf1 a:%{l}.macro.example ip4:192.0.2.5 -all"
`

func spfAnalyzeDNS(t *testing.T) *dnsauth.Resolver {
	t.Helper()
	srv := spfNewDNS(t, spfAnalyzeZone)
	// twelve.example: 12 includes, each of a record with nothing to fetch.
	var incs []string
	for i := 1; i <= 12; i++ {
		n := "t" + strconv.Itoa(i) + ".twelve.example"
		srv.MustAdd(t, n+". TXT \"v=spf1 -all\"")
		incs = append(incs, "include:"+n)
	}
	spfAddTXT(srv, "twelve.example", "v=spf1 "+strings.Join(incs, " ")+" -all")
	// big.example: 60 a: terms, more than the walk's query budget.
	var as []string
	for i := 1; i <= 60; i++ {
		as = append(as, "a:h"+strconv.Itoa(i)+".big.example")
	}
	spfAddTXT(srv, "big.example", "v=spf1 "+strings.Join(as, " ")+" -all")
	// deep0 … deep12.example: includes nested 12 deep.
	for i := 0; i < 12; i++ {
		srv.MustAdd(t, "deep"+strconv.Itoa(i)+".example. TXT \"v=spf1 include:deep"+strconv.Itoa(i+1)+".example -all\"")
	}
	srv.MustAdd(t, "deep12.example. TXT \"v=spf1 ip4:192.0.2.99 -all\"")
	srv.SetFault("servfail.example", dnstest.ServFail)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// spfAddTXT adds a TXT record longer than one 255-byte string.
func spfAddTXT(srv *dnstest.Server, name, txt string) {
	var parts []string
	for len(txt) > 255 {
		parts, txt = append(parts, txt[:255]), txt[255:]
	}
	parts = append(parts, txt)
	srv.AddRR(&dns.TXT{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: parts})
}

func TestAnalyze(t *testing.T) {
	r := spfAnalyzeDNS(t)
	type want struct {
		lookups, voids int
		all            string
		networks       string // space-separated prefixes
		unexpanded     string // "|"-separated
		problems       []string
		tempError      bool
	}
	test := func(domain string, w want) {
		t.Helper()
		a := Analyze(context.Background(), r, domain)
		var nets []string
		for _, p := range a.Networks {
			nets = append(nets, p.String())
		}
		got := want{a.Lookups, a.VoidLookups, a.All, strings.Join(nets, " "), strings.Join(a.Unexpanded, "|"), nil, a.TempError}
		if got.lookups != w.lookups || got.voids != w.voids || got.all != w.all || got.networks != w.networks ||
			got.unexpanded != w.unexpanded || got.tempError != w.tempError {
			t.Errorf("Analyze(%s)\n got %+v\nwant %+v\nproblems: %q", domain, got, w, a.Problems)
		}
		if len(a.Problems) != len(w.problems) {
			t.Errorf("Analyze(%s): problems %q, want %d containing %q", domain, a.Problems, len(w.problems), w.problems)
			return
		}
		for i, p := range w.problems {
			if !strings.Contains(a.Problems[i], p) {
				t.Errorf("Analyze(%s): problem %d %q does not contain %q", domain, i, a.Problems[i], p)
			}
		}
		if a.MinTTL != Refresh || a.Domain != strings.ToLower(strings.TrimSuffix(domain, ".")) {
			t.Errorf("Analyze(%s): MinTTL %v, Domain %q", domain, a.MinTTL, a.Domain)
		}
	}
	// Expansion with CIDR lengths; "-" and "?" terms and "-include" authorize nothing.
	test("an.example", want{lookups: 5, all: "-all",
		networks: "192.0.2.0/24 192.0.2.200/32 198.51.100.16/28 203.0.113.0/30 203.0.113.128/25 " +
			"2001:db8:1::/48 2001:db8:2::1/128 2001:db8:3::25/128"})
	// A vendor filter's record: nested includes, networks deduplicated.
	test("_spf.filter.example.", want{lookups: 3, all: "-all",
		networks: "192.0.2.0/26 198.51.100.0/27 2001:db8:f::/48"})
	// Counting through include and redirect; exists and ptr cannot be expanded.
	test("c1.example", want{lookups: 8, voids: 1, all: "-all", networks: "192.0.2.9/32 192.0.2.10/32 192.0.2.11/32",
		unexpanded: "exists:%{i}.c2.example|ptr",
		problems:   []string{"c2.example: exists:%{i}.c2.example uses macros", "c3.example: ptr is deprecated"}})
	test("r1.example", want{lookups: 1, all: "~all", networks: "192.0.2.1/32 192.0.2.2/32"})
	test("r3.example", want{all: "-all", networks: "192.0.2.3/32",
		problems: []string{"redirect= is ignored because the record has \"all\""}})
	test("loopa.example", want{lookups: 2, all: "-all",
		problems: []string{"loopb.example: include:loopa.example loops back to loopa.example (loopa.example → loopb.example → loopa.example)"}})
	test("self.example", want{lookups: 1, problems: []string{"redirect=self.example loops back"}})
	test("twelve.example", want{lookups: 12, all: "-all",
		problems: []string{"12 DNS-querying terms, over the limit of 10"}})
	test("void.example", want{lookups: 4, voids: 4, all: "-all", problems: []string{
		"include:nx4.void.example: nx4.void.example has no SPF record",
		"4 lookups find nothing, over the limit of 2"}})
	test("big.example", want{lookups: 60, voids: 49, all: "-all", problems: []string{
		"analysis stopped after 50 DNS queries",
		"60 DNS-querying terms", "49 lookups find nothing"}})
	test("deep0.example", want{lookups: 11, all: "-all", problems: []string{
		"deep10.example: include:deep11.example: nested deeper than 10",
		"11 DNS-querying terms, over the limit of 10"}})
	test("macro.example", want{lookups: 1, all: "-all", networks: "192.0.2.5/32",
		unexpanded: "a:%{l}.macro.example", problems: []string{"uses macros"}})
	test("open.example", want{all: "+all", problems: []string{"+all: every address"}})
	test("wide.example", want{all: "-all", networks: "0.0.0.0/1 10.0.0.0/8 ::/0", problems: []string{
		"0.0.0.0/1 authorizes a huge part", "::/0 authorizes a huge part"}})
	test("after.example", want{all: "-all", problems: []string{`terms after "all" are never evaluated`}})
	test("temp.example", want{lookups: 1, all: "-all", networks: "192.0.2.1/32", tempError: true,
		problems: []string{"include:servfail.example: DNS error"}})
	test("servfail.example", want{tempError: true, problems: []string{"servfail.example: DNS error"}})
	test("multi.example", want{problems: []string{"publishes 2 SPF records"}})
	test("syntax.example", want{problems: []string{`term 2 "ipv4:192.0.2.2": unknown mechanism "ipv4"`}})
	test("other.example", want{problems: []string{"publishes no SPF record"}})
	test("nx.example", want{problems: []string{"nx.example does not exist"}})
}

func TestAnalyzeSPFRecords(t *testing.T) {
	r := spfAnalyzeDNS(t)
	a := Analyze(context.Background(), r, "multi.example")
	if len(a.Records) != 2 || a.Record != nil {
		t.Errorf("multi.example: Records %q, Record %v", a.Records, a.Record)
	}
	a = Analyze(context.Background(), r, "an.example")
	if len(a.Records) != 1 || a.Record == nil || a.Record.All != "-all" || a.Record.Raw != a.Records[0] {
		t.Errorf("an.example: Records %q, Record %+v", a.Records, a.Record)
	}
	a = Analyze(context.Background(), r, "[192.0.2.1]")
	if len(a.Problems) != 1 || !strings.Contains(a.Problems[0], "address literal") {
		t.Errorf("address literal: %q", a.Problems)
	}
}

// TestAnalyzeSPFMatchesCheck: every network the analysis lists passes
// Check, the way the engine relies on it.
func TestAnalyzeSPFMatchesCheck(t *testing.T) {
	r := spfAnalyzeDNS(t)
	for _, domain := range []string{"an.example", "_spf.filter.example", "r1.example"} {
		a := Analyze(context.Background(), r, domain)
		for _, p := range a.Networks {
			for _, ip := range []netip.Addr{p.Addr(), spfLastAddr(p)} {
				if got := Check(context.Background(), r, ip, "x.example", "a@"+domain); got.Result != dnsauth.Pass {
					t.Errorf("%s lists %s but %s gives %s: %s", domain, p, ip, got.Result, got.Reason)
				}
			}
		}
	}
}

// spfLastAddr is the highest address of a prefix.
func spfLastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24//64 ~all",
		"v=spf1 include:_spf.example.net redirect=x.example exp=%{d}", "v=spf1 a:%{l1r-}.%{D2}.example",
		"v=spf1 a:foo:bar/baz.example.com/24", "v=spf1 foo=%{z}", "v=spf1 \x80", "v=spf1 a//",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := Parse(txt)
		if (err == nil) != (spfCheckRecord(txt) == nil) {
			t.Fatalf("Parse and spfCheckRecord disagree on %q", txt)
		}
		if err != nil {
			return
		}
		// A valid record prints back to terms that parse the same.
		var parts []string
		for _, term := range rec.Terms {
			parts = append(parts, term.String())
		}
		again, err := Parse("v=spf1 " + strings.Join(parts, " "))
		if err != nil {
			t.Fatalf("printed terms of %q do not parse: %v", txt, err)
		}
		if !reflect.DeepEqual(again.Terms, rec.Terms) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", txt, rec.Terms, again.Terms)
		}
	})
}

func ExampleParse() {
	rec, err := Parse("v=spf1 ip4:192.0.2.0/24 a:mail.example.org/28 include:_spf.example.net ~all")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range rec.Terms {
		fmt.Printf("%c %-7s %-18s /%d //%d\n", t.Qualifier, t.Mechanism, t.Value, t.Prefix4, t.Prefix6)
	}
	fmt.Println("all:", rec.All)

	_, err = Parse("v=spf1 ip4:192.0.2.0/33 -all")
	fmt.Println(err)
	// Output:
	// + ip4     192.0.2.0          /24 //128
	// + a       mail.example.org   /28 //128
	// + include _spf.example.net   /32 //128
	// ~ all                        /32 //128
	// all: ~all
	// invalid SPF record: term 1 "ip4:192.0.2.0/33": bad CIDR length "33" (0-32)
}
