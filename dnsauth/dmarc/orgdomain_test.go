package dmarc

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/header"
)

func TestOrgDomain(t *testing.T) {
	test := func(in, want string) {
		t.Helper()
		if got := OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", in, got, want)
		}
	}
	test("mail.example.org", "example.org")
	test("Mail.Example.ORG.", "example.org")
	test("a.b.example.co.uk", "example.co.uk")
	test("x.user.github.io", "user.github.io") // private section
	test("github.io", "github.io")             // bare suffix: itself
	test("co.uk", "co.uk")
	test("localhost", "localhost") // single label
	test("192.0.2.1", "192.0.2.1") // IP
	test("2001:db8::1", "2001:db8::1")
	test("[192.0.2.1]", "[192.0.2.1]")
	test("", "")
	test("mail.bücher.example", "xn--bcher-kva.example")
	test("ＭＡＩＬ.ＥＸＡＭＰＬＥ.ＯＲＧ", "example.org")
	test("mail.exam\u200bple.org", "example.org")
	test("a.example.org..", "example.org")
	test("foo.yo.mom.za.org", "mom.za.org")
	test("a.b.c.kawasaki.jp", "b.c.kawasaki.jp")
	test("ex\xffample.org", "ex\xffample.org")
}

// pslCase matches checkPublicSuffix('in', 'out'); with null for either.
var pslCase = regexp.MustCompile(`^checkPublicSuffix\((null|'[^']*'), (null|'[^']*')\);$`)

// TestOrgDomainPSL runs the Public Suffix List's own test file. "null" as
// expected output means no registrable domain: orgRegistrable says so and
// OrgDomain returns the (normalised) name itself. Unicode expectations
// are compared in A-label form, the form OrgDomain returns.
func TestOrgDomainPSL(t *testing.T) {
	f, err := os.Open(dnstest.SharedTestdata(t, "psl", "test_psl.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, passed := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		m := pslCase.FindStringSubmatch(line)
		if m == nil {
			if line != "" && !strings.HasPrefix(line, "//") {
				t.Errorf("unrecognised line %q", line)
			}
			continue
		}
		total++
		in, want := strings.Trim(m[1], "'"), strings.Trim(m[2], "'")
		if m[1] == "null" {
			in = ""
		}
		name := header.NormalizeDomain(in)
		org, ok := orgRegistrable(name)
		got := OrgDomain(in)
		switch {
		case m[2] == "null" && (ok || got != name):
			t.Errorf("%s: registrable %q (%v), OrgDomain %q; want none", line, org, ok, got)
		case m[2] != "null" && (!ok || got != header.NormalizeDomain(want)):
			t.Errorf("%s: OrgDomain %q (registrable %v), want %q", line, got, ok, header.NormalizeDomain(want))
		default:
			passed++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if total != 78 {
		t.Errorf("%d cases read, the file has 78", total)
	}
	t.Logf("psl test_psl.txt: %d/%d pass", passed, total)
}

// TestOrgDomainRspamdList checks that every suffix of rspamd's 20-entry
// test PSL is a public suffix in the full list too, so the rspamd DMARC
// cases get the same organizational domains from either.
func TestOrgDomainRspamdList(t *testing.T) {
	data, err := os.ReadFile(dnstest.SharedTestdata(t, "rspamd-dmarc", "test_tld.dat"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, suffix := range strings.Fields(string(data)) {
		n++
		if org, ok := orgRegistrable(header.NormalizeDomain(suffix)); ok {
			t.Errorf("%s: the full PSL gives registrable %q, rspamd's list a public suffix", suffix, org)
		}
		if got, want := OrgDomain("a.b."+suffix), header.NormalizeDomain("b."+suffix); got != want {
			t.Errorf("OrgDomain(a.b.%s) = %q, want %q", suffix, got, want)
		}
	}
	if n != 20 {
		t.Errorf("%d suffixes read, want 20", n)
	}
}

func FuzzOrgDomain(f *testing.F) {
	for _, s := range []string{"mail.example.org", "a.b.example.co.uk", "x.user.github.io", "co.uk", "食狮.公司.cn", ".com", "a..b", "[1.2.3.4]", "ＡＢ.ＯＲＧ。", "\xff.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		org := OrgDomain(s)
		name := header.NormalizeDomain(s)
		if org != name && !strings.HasSuffix(name, "."+org) {
			t.Fatalf("OrgDomain(%q) = %q is not %q or one of its parents", s, org, name)
		}
		if OrgDomain(org) != org {
			t.Fatalf("OrgDomain(%q) = %q, but OrgDomain(%q) = %q", s, org, org, OrgDomain(org))
		}
		if header.NormalizeDomain(name) != name || strings.HasSuffix(name, ".") {
			t.Fatalf("header.NormalizeDomain(%q) = %q is not a fixed point", s, name)
		}
	})
}

func ExampleOrgDomain() {
	fmt.Println(OrgDomain("Mail.Example.CO.UK."))
	fmt.Println(OrgDomain("alice.github.io"))
	fmt.Println(OrgDomain("post.bücher.example"))
	// Output:
	// example.co.uk
	// alice.github.io
	// xn--bcher-kva.example
}
