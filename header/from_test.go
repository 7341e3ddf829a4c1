package header

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// fromCase is one ParseFrom expectation. addrs is checked only when set.
type fromCase struct {
	name    string
	values  []string
	domains []string
	problem string // exact, or a prefix ending in "..." ("unparseable: ...")
	lenient bool
	addrs   []string
}

func fromOne(v string) []string { return []string{v} }

var fromCases = []fromCase{
	// Ordinary forms.
	{name: "bare addr-spec", values: fromOne("ceo@example.org"), domains: []string{"example.org"}, addrs: []string{"ceo@example.org"}},
	{name: "leading space as MTAs pass it", values: fromOne(" ceo@example.org\r\n"), domains: []string{"example.org"}},
	{name: "angle addr only", values: fromOne("<ceo@example.org>"), domains: []string{"example.org"}},
	{name: "display name", values: fromOne("Chief Executive <ceo@example.org>"), domains: []string{"example.org"}},
	{name: "quoted display name", values: fromOne(`"Exec, Chief" <ceo@example.org>`), domains: []string{"example.org"}},
	{name: "folded header", values: fromOne("\"Chief\"\r\n <ceo@example.org>"), domains: []string{"example.org"}},
	{name: "upper case domain", values: fromOne("CEO@EXAMPLE.ORG"), domains: []string{"example.org"}, addrs: []string{"CEO@example.org"}},
	{name: "trailing dot", values: fromOne("ceo@example.org."), domains: []string{"example.org"}},
	{name: "trailing dot in angle", values: fromOne("Boss <ceo@Example.Org.>"), domains: []string{"example.org"}},
	{name: "trailing dot then comment", values: fromOne("ceo@example.org. (boss)"), domains: []string{"example.org"}},
	{name: "two trailing dots", values: fromOne("ceo@example.org.."), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "plus and dots in local", values: fromOne("first.last+tag@example.org"), domains: []string{"example.org"}, addrs: []string{"first.last+tag@example.org"}},
	{name: "obs phrase with dot", values: fromOne("John Q. Public <jqp@example.org>"), domains: []string{"example.org"}},
	{name: "apostrophe in name", values: fromOne("Dan O'Brien <dan@example.org>"), domains: []string{"example.org"}},
	{name: "utf-8 display name", values: fromOne("Jürgen Müller <jm@example.de>"), domains: []string{"example.de"}},
	{name: "consecutive dots in local part", values: fromOne("john..doe@example.jp"), domains: []string{"example.jp"}},

	// The display name never counts.
	{name: "address-like quoted display name", values: fromOne(`"ceo@example.org" <attacker@evil.example>`), domains: []string{"evil.example"}},
	{name: "encoded word display name", values: fromOne("=?utf-8?Q?ceo=40example.org?= <attacker@evil.example>"), domains: []string{"evil.example"}},
	{name: "encoded word base64", values: fromOne("=?UTF-8?B?Y2VvQGV4YW1wbGUub3Jn?= <attacker@evil.example>"), domains: []string{"evil.example"}},
	{name: "comment holding an address", values: fromOne("attacker@evil.example (ceo@example.org)"), domains: []string{"evil.example"}},
	{name: "comment in display name", values: fromOne("Chief (ceo@example.org) Exec <a@evil.example>"), domains: []string{"evil.example"}},
	{name: "nested comments", values: fromOne("(a (b (c@example.org) d) e) x@evil.example (f)"), domains: []string{"evil.example"}},
	{name: "escaped paren in comment", values: fromOne(`x@evil.example (ceo \) @example.org)`), domains: []string{"evil.example"}},

	// Quoted local parts.
	{name: "quoted local part with @", values: fromOne(`"ceo@example.org"@evil.example`), domains: []string{"evil.example"}, addrs: []string{`"ceo@example.org"@evil.example`}},
	{name: "quoted local in angle", values: fromOne(`Boss <"ceo@example.org"@evil.example>`), domains: []string{"evil.example"}},
	{name: "quoted local with escape", values: fromOne(`"a\"b"@example.org`), domains: []string{"example.org"}, addrs: []string{`"a\"b"@example.org`}},
	{name: "obs local part mixed", values: fromOne(`john."q".public@example.org`), domains: []string{"example.org"}, addrs: []string{`"john.q.public"@example.org`}},

	// Obsolete syntax.
	{name: "CFWS around dots", values: fromOne("ceo @ example . org"), domains: []string{"example.org"}},
	{name: "comments everywhere", values: fromOne("(x)ceo(y)@(z)example(w).(v)org(u)"), domains: []string{"example.org"}},
	{name: "route", values: fromOne("Boss <@relay.example,@relay2.example:ceo@example.org>"), domains: []string{"example.org"}},
	{name: "route with empty elements", values: fromOne("<,@relay.example,,@r2.example:ceo@example.org>"), domains: []string{"example.org"}},
	{name: "empty list elements", values: fromOne(", ,ceo@example.org,"), domains: []string{"example.org"}},
	{name: "domain literal", values: fromOne("ceo@[192.0.2.1]"), domains: []string{"[192.0.2.1]"}},

	// IDN and look-alike forms.
	{name: "IDN U-label", values: fromOne("info@bücher.example"), domains: []string{"xn--bcher-kva.example"}},
	{name: "IDN A-label", values: fromOne("info@XN--BCHER-KVA.example"), domains: []string{"xn--bcher-kva.example"}},
	{name: "full-width letters", values: fromOne("ceo@ＥＸＡＭＰＬＥ.org"), domains: []string{"example.org"}},
	{name: "ideographic full stop", values: fromOne("ceo@example。org"), domains: []string{"example.org"}},
	{name: "zero-width space", values: fromOne("ceo@exam\u200bple.org"), domains: []string{"example.org"}},
	{name: "soft hyphen", values: fromOne("ceo@exam\u00adple.org"), domains: []string{"example.org"}},
	{name: "bidi override", values: fromOne("ceo@\u202eexample.org"), domains: []string{"example.org"}},
	{name: "cyrillic look-alike stays distinct", values: fromOne("ceo@ex\u0430mple.org"), domains: []string{"xn--exmple-4nf.org"}},

	{name: "no-break space after domain", values: fromOne("ceo@example.org\u00a0"), domains: []string{"example.org"}},
	{name: "ideographic space in angle", values: fromOne("<ceo@example.org\u3000>"), domains: []string{"example.org"}},

	// Encoded words where only display names may have them.
	{name: "encoded word as local part", values: fromOne("=?utf-8?b?Y2VvQGV4YW1wbGUub3Jn?=@evil.example"), domains: []string{"evil.example", "example.org"}, problem: "encoded word in an address", lenient: true},
	{name: "encoded word as domain", values: fromOne("ceo@=?utf-8?q?example.org?="), domains: []string{"=?utf-8?q?example.org?=", "example.org"}, problem: "encoded word in an address", lenient: true},
	{name: "mailsploit", values: fromOne("=?utf-8?b?cG90dXNAd2hpdGVob3VzZS5nb3Y=?==?utf-8?Q?=00?=@evil.example"), domains: []string{"evil.example", "whitehouse.gov"}, problem: "encoded word in an address", lenient: true},
	{name: "encoded bare local part", values: fromOne("Boss <=?utf-8?q?ceo=40example.org?=>"), domains: []string{"example.org"}, problem: "encoded word in an address", lenient: true},
	{name: "encoded word in an unknown charset", values: fromOne("=?x-unknown?q?ceo=40example.org?=@evil.example"), domains: []string{"evil.example", "example.org"}, problem: "encoded word in an address", lenient: true},
	{name: "encoded word without @ in local part", values: fromOne("=?utf-8?q?ceo?=@example.org"), domains: []string{"example.org"}},
	{name: "lenient scan decodes display names", values: fromOne("=?utf-8?q?ceo=40example.org?= <a@evil.example>, broken@"), domains: []string{"evil.example", "example.org"}, problem: "unparseable: ...", lenient: true},

	// Groups.
	{name: "group", values: fromOne("Team: a@x.example, b@y.example;"), domains: []string{"x.example", "y.example"}, problem: "2 addresses"},
	{name: "group of one", values: fromOne("Team: ceo@example.org;"), domains: []string{"example.org"}},
	{name: "empty group", values: fromOne("undisclosed-recipients:;"), problem: "group without mailboxes"},
	{name: "empty group with CFWS", values: fromOne("Team: (nobody) ;"), problem: "group without mailboxes"},
	{name: "group and mailbox", values: fromOne("Team: a@x.example;, b@y.example"), domains: []string{"x.example", "y.example"}, problem: "2 addresses"},
	{name: "group not closed", values: fromOne("Team: a@x.example"), domains: []string{"x.example"}, problem: "unparseable: ...", lenient: true},
	{name: "nested group", values: fromOne("A: B: b@x.example;;"), domains: []string{"x.example"}, problem: "unparseable: ...", lenient: true},

	// Counting problems.
	{name: "no header", values: nil, problem: "no From header"},
	{name: "two headers", values: []string{"a@x.example", "b@example.org"}, domains: []string{"x.example", "example.org"}, problem: "2 From headers"},
	{name: "two headers same domain", values: []string{"a@example.org", "b@example.org"}, domains: []string{"example.org"}, problem: "2 From headers"},
	{name: "three addresses", values: fromOne("a@x.example, B <b@example.org>, c@x.example"), domains: []string{"x.example", "example.org"}, problem: "3 addresses"},
	{name: "bare local part", values: fromOne("root"), problem: "address without a domain", addrs: []string{"root"}},
	{name: "bare local with name", values: fromOne("Cron Daemon <root>"), problem: "address without a domain"},
	{name: "null angle addr", values: fromOne("<>"), problem: "address without a domain", addrs: []string{"<>"}},
	{name: "empty value", values: fromOne("  "), problem: "no address"},
	{name: "only a comment", values: fromOne("(nothing)"), problem: "no address"},

	// Broken forms: the lenient scan must still see every domain.
	{name: "unquoted address as display name", values: fromOne("ceo@example.org <attacker@evil.example>"), domains: []string{"example.org", "evil.example"}, problem: "unparseable: ...", lenient: true},
	{name: "two @", values: fromOne("ceo@example.org@evil.example"), domains: []string{"example.org", "evil.example"}, problem: "unparseable: ...", lenient: true},
	{name: "two @ in angle", values: fromOne(`"Boss" <ceo@example.org@evil.example>`), domains: []string{"example.org", "evil.example"}, problem: "unparseable: ...", lenient: true},
	{name: "unquoted comma in name", values: fromOne("Exec, Chief <ceo@example.org>"), domains: []string{"example.org"}, problem: "address without a domain"},
	{name: "NUL splits address", values: fromOne("ceo@example.org\x00@evil.example"), domains: []string{"example.org", "evil.example"}, problem: "unparseable: ...", lenient: true},
	{name: "NUL in display name", values: fromOne("Bo\x00ss <ceo@example.org>"), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "invalid utf-8 in domain", values: fromOne("ceo@ex\xffample.org"), domains: []string{"ex\xffample.org"}},
	{name: "invalid utf-8 in name", values: fromOne("B\xffss <ceo@example.org>"), domains: []string{"example.org"}},
	{name: "unterminated quote", values: fromOne(`"Boss <ceo@example.org>`), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "unterminated comment", values: fromOne("ceo@example.org (boss"), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "unclosed angle", values: fromOne("Boss <ceo@example.org"), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "bracket tag in display name", values: fromOne("[EXT] Boss <ceo@example.org>"), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "quoted display name skipped by lenient scan", values: fromOne(`"ceo@example.org" <a@evil.example>, broken@`), domains: []string{"evil.example"}, problem: "unparseable: ...", lenient: true},
	{name: "quoted local part kept by lenient scan", values: fromOne(`"ceo@example.org"@evil.example <`), domains: []string{"example.org", "evil.example"}, problem: "unparseable: ...", lenient: true},
	{name: "space after @ in lenient scan", values: fromOne("Boss ceo@ example.org >"), domains: []string{"example.org"}, problem: "unparseable: ...", lenient: true},
	{name: "at without domain", values: fromOne("ceo@"), problem: "unparseable: ...", lenient: true},
	{name: "lenient IDN", values: fromOne("x <ceo@bücher.example"), domains: []string{"xn--bcher-kva.example"}, problem: "unparseable: ...", lenient: true},
	{name: "lenient literal", values: fromOne("x <ceo@[192.0.2.1]"), domains: []string{"[192.0.2.1]"}, problem: "unparseable: ...", lenient: true},
	{name: "one good header one broken", values: []string{"ceo@example.org", "x y@evil.example <"}, domains: []string{"example.org", "evil.example"}, problem: "2 From headers", lenient: true},
	{name: "mailsploit style encoded NUL", values: fromOne("=?utf-8?b?cG90dXNAd2hpdGVob3VzZS5nb3YiIDx0ZXN0Pg==?==?utf-8?Q?=00?= <attacker@evil.example>"), domains: []string{"evil.example"}},
}

func TestParseFrom(t *testing.T) {
	test := func(c fromCase) {
		t.Run(c.name, func(t *testing.T) {
			got := ParseFrom(c.values)
			if !slices.Equal(got.Domains, c.domains) {
				t.Errorf("Domains = %q, want %q", got.Domains, c.domains)
			}
			if p, ok := strings.CutSuffix(c.problem, "..."); ok {
				if !strings.HasPrefix(got.Problem, p) || got.Problem == p {
					t.Errorf("Problem = %q, want %q followed by a reason", got.Problem, p)
				}
			} else if got.Problem != c.problem {
				t.Errorf("Problem = %q, want %q", got.Problem, c.problem)
			}
			if got.Lenient != c.lenient {
				t.Errorf("Lenient = %v, want %v", got.Lenient, c.lenient)
			}
			if c.addrs != nil && !slices.Equal(got.Addresses, c.addrs) {
				t.Errorf("Addresses = %q, want %q", got.Addresses, c.addrs)
			}
		})
	}
	for _, c := range fromCases {
		test(c)
	}
}

// TestParseFromLinear feeds 200 KB headers of the shapes that would make a
// careless parser quadratic. Linear work on 200 KB takes milliseconds and
// quadratic work tens of seconds, so the bound is loose enough for a
// loaded machine and still catches the bug.
func TestParseFromLinear(t *testing.T) {
	const size = 200 << 10
	shapes := map[string]string{
		"many mailboxes":   strings.Repeat("a@example.org,", size/14),
		"many @ unparsed":  "<" + strings.Repeat("a@", size/2),
		"deep comments":    strings.Repeat("(", size/2) + strings.Repeat(")", size/2) + "a@example.org",
		"open comments":    strings.Repeat("(", size),
		"many dots":        "a@" + strings.Repeat("b.", size/2) + "org",
		"many quotes":      strings.Repeat(`"a" `, size/4) + "<",
		"unclosed quote":   `"` + strings.Repeat("a@b ", size/4),
		"long local":       strings.Repeat("a", size) + "@example.org",
		"many routes":      "<" + strings.Repeat("@r.example,", size/11) + ":a@example.org>",
		"backslashes":      strings.Repeat(`\`, size),
		"at signs only":    strings.Repeat("@", size),
		"lenient at-chain": strings.Repeat("a@b", size/3) + "<",
		"NULs":             strings.Repeat("\x00@x", size/3),
		"encoded words":    strings.Repeat("=?utf-8?q?a=40b.example?=", size/25) + "@x.example",
		"encoded lenient":  "<" + strings.Repeat("=?utf-8?b?YUBiLmV4YW1wbGU=?= ", size/29),
		"open encoded":     strings.Repeat("=?", size/2) + "@x.example",
	}
	for name, v := range shapes {
		start := time.Now()
		f := ParseFrom([]string{v})
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: %v for %d bytes (problem %q)", name, d, len(v), f.Problem)
		}
	}
}

func BenchmarkParseFrom(b *testing.B) {
	values := []string{`"Chief Executive (Example)" <ceo@Example.Org>`}
	for b.Loop() {
		ParseFrom(values)
	}
}

func BenchmarkParseFromLenient(b *testing.B) {
	values := []string{"ceo@example.org <attacker@evil.example>"}
	for b.Loop() {
		ParseFrom(values)
	}
}

func FuzzParseFrom(f *testing.F) {
	for _, c := range fromCases {
		f.Add(strings.Join(c.values, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ParseFrom(strings.Split(s, "\n"))
		fromCheckInvariants(t, s, got)
	})
}

// fromCheckInvariants states what must hold for any input: domains are
// distinct and normalised, a clean result has exactly one domain, and the
// strict result never names a domain the lenient scan would not.
func fromCheckInvariants(t *testing.T, s string, got From) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range got.Domains {
		if d == "" || seen[d] {
			t.Fatalf("%q: empty or repeated domain in %q", s, got.Domains)
		}
		seen[d] = true
		if strings.HasSuffix(d, ".") {
			t.Fatalf("%q: domain %q keeps its trailing dot", s, d)
		}
	}
	if got.Problem == "" && (len(got.Domains) != 1 || len(got.Addresses) != 1 || got.Lenient) {
		t.Fatalf("%q: no problem reported for %+v", s, got)
	}
	if got.Lenient && !strings.HasPrefix(got.Problem, "unparseable: ") && !strings.HasSuffix(got.Problem, " From headers") && got.Problem != "encoded word in an address" {
		t.Fatalf("%q: lenient without saying so: %+v", s, got)
	}
	if !got.Lenient && fromPlainInput(s) {
		lenient := map[string]bool{}
		for _, v := range strings.Split(s, "\n") {
			for _, b := range fromLenientScan(v) {
				lenient[b.domain] = true
			}
		}
		for _, d := range got.Domains {
			if !strings.HasPrefix(d, "[") && !lenient[d] {
				t.Fatalf("%q: strict domain %q not seen by the lenient scan", s, d)
			}
		}
	}
}

// fromPlainInput reports whether s is ASCII without comments or white
// space. Comments and CFWS inside a domain (obs syntax) hide it from the
// lenient scan, so the superset check applies only to plain input.
func fromPlainInput(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == '(' || s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' {
			return false
		}
	}
	return true
}

func ExampleParseFrom() {
	f := ParseFrom([]string{`"ceo@example.org" <"ceo@example.org"@evil.example>`})
	fmt.Println(f.Domains, f.Problem == "")
	f = ParseFrom([]string{"ceo@example.org <x@evil.example>"})
	fmt.Println(f.Domains, f.Lenient)
	// Output:
	// [evil.example] true
	// [example.org evil.example] true
}
