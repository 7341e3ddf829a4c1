package impersonation

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func testIndex() *Index {
	return New([]Protected{
		{Domain: "example.org", People: []string{"Jane Doe", "José García-López", "Seán O'Brien"}, Allow: []string{"example.com"}},
		{Domain: "mail.example.org"}, // a second name of the same organisation
		{Domain: "paypal.com"},
		{Domain: "bücher.example"},
		{Domain: "internationalbank.co.uk"},
		{Domain: "ibm.com"},
		{Domain: "mail.test"},
	})
}

func TestLookalike(t *testing.T) {
	ix := testIndex()
	test := func(domain string, kind Kind, protected, explanation string) {
		t.Helper()
		m, ok := ix.Lookalike(domain)
		switch {
		case kind == "" && ok:
			t.Errorf("%s: unexpected match %s: %s", domain, m.Kind, m.Explanation)
		case kind == "":
		case !ok:
			t.Errorf("%s: no match, want %s", domain, kind)
		case m.Kind != kind || m.Protected != protected:
			t.Errorf("%s: %s of %s, want %s of %s (%s)", domain, m.Kind, m.Protected, kind, protected, m.Explanation)
		case explanation != "" && m.Explanation != explanation:
			t.Errorf("%s: explanation\n %q, want\n %q", domain, m.Explanation, explanation)
		}
	}
	// Confusable skeletons: homographs in several scripts, digits, rn/m.
	test("exаmple.org", KindHomograph, "example.org", "exаmple.org (Cyrillic а in place of a at position 3) looks like example.org")
	test("xn--exmple-4nf.org", KindHomograph, "example.org",
		"exаmple.org (written xn--exmple-4nf.org; Cyrillic а in place of a at position 3) looks like example.org")
	test("EXАMPLE.ORG.", KindHomograph, "example.org", "")
	test("ехаmple.org", KindHomograph, "example.org", "ехаmple.org (Cyrillic еха in place of exa at position 1) looks like example.org")
	test("examplе.org", KindHomograph, "example.org", "")
	test("εxample.org", KindEdit, "example.org", "εxample.org (Greek ε in place of e at position 1) looks like example.org")
	test("exαmple.org", KindHomograph, "example.org", "exαmple.org (Greek α in place of a at position 3) looks like example.org")
	test("examp1e.org", KindHomograph, "example.org", "examp1e.org (digit 1 in place of l at position 6) looks like example.org")
	test("examp1e.net", KindHomograph, "example.org", "examp1e.net (digit 1 in place of l at position 6, under .net) looks like example.org")
	test("exarnple.org", KindHomograph, "example.org", "exarnple.org (rn in place of m at position 4) looks like example.org")
	test("pаypal.com", KindHomograph, "paypal.com", "")
	test("paypa1.com", KindHomograph, "paypal.com", "")
	test("ехample.org", KindHomograph, "example.org", "")
	test("ｅｘａｍｐｌｅ.org", KindHomograph, "example.org", "")       // full-width letters
	test("exa\u200bmple.org", KindHomograph, "example.org", "") // zero-width space
	test("exámple.org", KindHomograph, "example.org", "exámple.org (Latin á in place of a at position 3) looks like example.org")
	test("bucher.example", KindHomograph, "bücher.example", "bucher.example (u in place of Latin ü at position 2) looks like bücher.example")
	test("ibm.net", KindSuffix, "ibm.com", "")
	test("ibrn.com", KindHomograph, "ibm.com", "")
	test("ibm.co", KindSuffix, "ibm.com", "")
	// Another public suffix, hyphens, the suffix run in, an extra label.
	test("example.net", KindSuffix, "example.org", "example.net (the same name under .net instead of .org) looks like example.org")
	test("example.co.uk", KindSuffix, "example.org", "")
	test("example-org.com", KindHyphen, "example.org", "example-org.com (the name example with a hyphen, under .com) looks like example.org")
	test("example-secure.net", KindHyphen, "example.org", "")
	test("my-example.org", KindHyphen, "example.org", "")
	test("exam-ple.org", KindHyphen, "example.org", "")
	test("exampleorg.net", KindHyphen, "example.org", "exampleorg.net (the name example with its suffix run in, under .net) looks like example.org")
	test("example.org.evil.example", KindLabel, "example.org", "example.org.evil.example (the name example as an extra label) looks like example.org")
	test("paypal.login-check.example", KindLabel, "paypal.com", "")
	// Edit distance: substitution, insertion, deletion, transposition.
	test("exannple.org", KindEdit, "example.org", "exannple.org (nn in place of m at position 4) looks like example.org")
	test("exmaple.org", KindEdit, "example.org", "exmaple.org (m and a swapped at position 3) looks like example.org")
	test("examplle.org", KindEdit, "example.org", "examplle.org (extra l at position 7) looks like example.org")
	test("exmple.org", KindEdit, "example.org", "exmple.org (a missing at position 3) looks like example.org")
	test("exbmple.com", KindEdit, "example.org", "exbmple.com (b in place of a at position 3, under .com) looks like example.org")
	test("internatoinalbnk.co.uk", KindEdit, "internationalbank.co.uk", "")
	test("paypai.com", KindEdit, "paypal.com", "")
	// Not lookalikes: the organisation itself, allowed names, strangers,
	// short names beyond their skeleton, generic labels.
	test("example.org", "", "", "")
	test("news.example.org", "", "", "")
	test("example.com", "", "", "")
	test("lists.example.com", "", "", "")
	test("partner.example", "", "", "")
	test("gmail.com", "", "", "")
	test("exampleshop.org", "", "", "")
	test("xample.org", KindEdit, "example.org", "")
	test("ibn.com", "", "", "")
	test("ibm-partner.example", "", "", "") // "ibm" is too short to look for inside other names
	test("mail.partner.example", "", "", "")
	test("mail-partner.example", "", "", "")
	test("counterexample.org", "", "", "")
	test("intemationalbank.co.uk", KindHomograph, "internationalbank.co.uk", "")
	test("paypal", "", "", "")
	test("com", "", "", "")
	test("[192.0.2.1]", "", "", "")
	test("", "", "", "")
}

func TestDisplay(t *testing.T) {
	ix := testIndex()
	test := func(text string, people bool, kind Kind, want string) {
		t.Helper()
		m, ok := ix.Display(text, people)
		switch {
		case kind == "" && ok:
			t.Errorf("%q: unexpected match %s", text, m.Explanation)
		case kind == "":
		case !ok:
			t.Errorf("%q: no match, want %s", text, kind)
		case m.Kind != kind || m.Protected != "example.org" || (want != "" && m.Explanation != want):
			t.Errorf("%q: %s of %s: %s", text, m.Kind, m.Protected, m.Explanation)
		}
	}
	test("ceo@example.org", false, KindAddress, `"ceo@example.org" names example.org`)
	test("CEO@EXAMPLE.ORG", false, KindAddress, "")
	test("ceo@www.example.org", false, KindAddress, "")
	test("Example.org IT Helpdesk", false, KindAddress, "")
	test("ceo@exаmple.org", false, KindAddress, `"ceo@exаmple.org" names exаmple.org, which looks like example.org`)
	test("ceo＠ｅｘａｍｐｌｅ．ｏｒｇ", false, KindAddress, "")
	test("ceo@exam\u200bple.org", false, KindAddress, "")
	test("Jane Doe", true, KindPerson, `"Jane Doe" names Jane Doe, a protected person of example.org`)
	test("Jane Doe, CEO", true, KindPerson, "")
	test("DOE, Jane", true, KindPerson, "")
	test("Jane M. Doe", true, KindPerson, "")
	test("Dr. Jane Doe (CEO)", true, KindPerson, "")
	test("Jаne Dое", true, KindPerson, "") // Cyrillic а, о, е
	test("jose garcia lopez", true, KindPerson, "")
	test("José García-López", true, KindPerson, "")
	test("Sean OBrien", true, KindPerson, "")
	test("Seán O’Brien", true, KindPerson, "")
	// Never on one word, other names, or when people are not asked for.
	test("Jane Doe", false, "", "")
	test("Jane", true, "", "")
	test("Doe", true, "", "")
	test("Jane Smith", true, "", "")
	test("Janet Doering", true, "", "")
	test("John Doe", true, "", "")
	test("Jane Jane", true, "", "")
	test("example", true, "", "")
	test("Partner.example support", true, "", "")
	test("Team example-org", true, "", "")
	test("", true, "", "")
}

func TestPersonProblem(t *testing.T) {
	for name, ok := range map[string]bool{
		"Jane Doe": true, "Jane M. Doe": true, "Doe, Jane": true, "李 小龍": false, "李小 龍龍": true,
		"Jane": false, "J. Doe": false, "Jane D.": false, "": false, "  ,  ": false,
	} {
		if got := PersonProblem(name) == ""; got != ok {
			t.Errorf("PersonProblem(%q) = %q", name, PersonProblem(name))
		}
	}
}

func TestParseMailboxes(t *testing.T) {
	test := func(value, want string) {
		t.Helper()
		var parts []string
		for _, b := range ParseMailboxes(value) {
			parts = append(parts, fmt.Sprintf("%q %q <%s>", b.Name, b.Comments, b.Address))
		}
		if got := strings.Join(parts, "; "); got != want {
			t.Errorf("%q:\n got %s\nwant %s", value, got, want)
		}
	}
	test(`"ceo@example.org" <x@evil.example>`, `"ceo@example.org" [] <x@evil.example>`)
	test(`ceo@example.org <x@evil.example>`, `"ceo@example.org" [] <x@evil.example>`)
	test(`x@evil.example (ceo@example.org)`, `"" ["ceo@example.org"] <x@evil.example>`)
	test(`=?utf-8?q?ceo=40example=2Eorg?= <x@evil.example>`, `"ceo@example.org" [] <x@evil.example>`)
	test(`"=?UTF-8?B?Y2VvQGV4YW1wbGUub3Jn?=" <x@evil.example>`, `"ceo@example.org" [] <x@evil.example>`)
	test(`=?windows-1251?b?5fXgbXBsZQ==?= <x@evil.example>`, `"ехаmple" [] <x@evil.example>`)
	test(`=?x-unknown?q?abc?= <x@evil.example>`, `"=?x-unknown?q?abc?=" [] <x@evil.example>`)
	test(`"Jane \"the boss\" Doe" <jane@gmail.example>`, `"Jane \"the boss\" Doe" [] <jane@gmail.example>`)
	test(`Jane (CEO (really)) Doe <jane@gmail.example>`, `"Jane Doe" ["CEO (really)"] <jane@gmail.example>`)
	test(`a@b.example, "C D" <c@d.example>`, `"" [] <a@b.example>; "C D" [] <c@d.example>`)
	test(`Example.org staff: a@b.example, c@d.example;`, `"" ["Example.org staff"] <a@b.example>; "" [] <c@d.example>`)
	test(`"a, b" <"quoted local"@x.example>`, `"a, b" [] <quoted local@x.example>`)
	test(`Jane Doe`, `"Jane Doe" [] <>`)
	test(`"unterminated <x@y.example>`, `"unterminated <x@y.example>" [] <>`)
	test(`(open comment x@y.example`, `"" ["open comment x@y.example"] <>`)
	test(``, ``)
	test(` , ;`, ``)
}

// TestDeletesAgreeWithDistance checks the symmetric-delete index against a
// plain scan: every stored key within its budget of a random query is
// found, and nothing else.
func TestDeletesAgreeWithDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcde"[r.IntN(5)]
		}
		return string(b)
	}
	var stored []string
	ds := newDeletes()
	for i := range 300 {
		k := word(5 + r.IntN(8))
		stored = append(stored, k)
		ds.add(k, 1+i%2, i)
	}
	for range 2000 {
		q := word(3 + r.IntN(12))
		found := map[int]bool{}
		ds.candidates(q, func(i int) bool {
			if osa(q, stored[i], 1+i%2) <= 1+i%2 {
				found[i] = true
			}
			return true
		})
		for i, k := range stored {
			if want := osa(q, k, 1+i%2) <= 1+i%2; want != found[i] {
				t.Fatalf("query %q, key %q (budget %d): found %v, distance says %v", q, k, 1+i%2, found[i], want)
			}
		}
	}
}

func TestOSA(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"example", "example", 2, 0}, {"exmaple", "example", 2, 1}, {"exampel", "example", 2, 1},
		{"exaple", "example", 2, 1}, {"examplle", "example", 2, 1}, {"exbmple", "example", 2, 1},
		{"ca", "abc", 3, 3}, {"kitten", "sitting", 5, 3}, {"kitten", "sitting", 2, 3},
		{"", "abc", 5, 3}, {"ехаmple", "example", 5, 3}, {"abcdefgh", "a", 2, 3},
	} {
		if got := osa(c.a, c.b, c.limit); got != c.want {
			t.Errorf("osa(%q, %q, %d) = %d, want %d", c.a, c.b, c.limit, got, c.want)
		}
	}
}

func TestKeyASCIIFastPath(t *testing.T) {
	for c := 0; c < 128; c++ {
		s := "ab" + string(rune(c)) + "yz"
		if key(s) != unicodeKey(s) {
			t.Errorf("key(%q) = %q, the Unicode path gives %q", s, key(s), unicodeKey(s))
		}
	}
	for _, s := range []string{"example", "EXAMPLE", "m", "0O", "I1l|"} {
		if key(s) != unicodeKey(s) {
			t.Errorf("key(%q) = %q, the Unicode path gives %q", s, key(s), unicodeKey(s))
		}
	}
}

func ExampleIndex_Lookalike() {
	ix := New([]Protected{{Domain: "example.org", Allow: []string{"example.com"}}})
	for _, d := range []string{"exаmple.org", "example-org.net", "exmaple.org", "example.com"} {
		if m, ok := ix.Lookalike(d); ok {
			fmt.Println(m.Explanation)
		} else {
			fmt.Println(d, "is not a lookalike")
		}
	}
	// Output:
	// exаmple.org (Cyrillic а in place of a at position 3) looks like example.org
	// example-org.net (the name example with a hyphen, under .net) looks like example.org
	// exmaple.org (m and a swapped at position 3) looks like example.org
	// example.com is not a lookalike
}

func ExampleIndex_Display() {
	ix := New([]Protected{{Domain: "example.org", People: []string{"Jane Doe"}}})
	for _, b := range ParseMailboxes(`"Doe, Jane (CEO)" <jane.doe.ceo@gmail.example>, x@evil.example (=?utf-8?q?ceo=40example.org?=)`) {
		for _, text := range b.Texts() {
			if m, ok := ix.Display(text, true); ok {
				fmt.Printf("<%s>: %s\n", b.Address, m.Explanation)
			}
		}
	}
	// Output:
	// <jane.doe.ceo@gmail.example>: "Doe, Jane (CEO)" names Jane Doe, a protected person of example.org
	// <x@evil.example>: "ceo@example.org" names example.org
}
