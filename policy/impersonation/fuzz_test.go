package impersonation

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseMailboxes: any header value parses, within the bounds, into
// entries whose texts the index can examine.
func FuzzParseMailboxes(f *testing.F) {
	for _, s := range []string{
		`"ceo@example.org" <x@evil.example>`, `x@evil.example (ceo@example.org)`,
		`=?utf-8?q?ceo=40example=2Eorg?= <x@evil.example>`, `g: a@b, "c" <d@e>;`,
		`((((`, `"\`, `<<<>>>`, "=?utf-8?b?\xff?=", `a\(b <c@d>`,
	} {
		f.Add(s)
	}
	ix := testIndex()
	f.Fuzz(func(t *testing.T, value string) {
		boxes := ParseMailboxes(value)
		if len(boxes) > maxMailboxes {
			t.Fatalf("%d mailboxes", len(boxes))
		}
		for _, b := range boxes {
			for _, text := range b.Texts() {
				ix.Display(text, true)
			}
			if len(b.Address) > len(value) {
				t.Fatalf("address %q longer than the value", b.Address)
			}
		}
	})
}

// FuzzLookalike: any domain-shaped input gets an answer, and a match
// always names a protected domain and explains itself.
func FuzzLookalike(f *testing.F) {
	for _, s := range []string{"exаmple.org", "xn--exmple-4nf.org", "example-org.com", "a.b.c.d.example.org.evil",
		"xn--", "xn--zz.org", "..", "-.com", strings.Repeat("a", 70) + ".org", "ｅｘａｍｐｌｅ.org"} {
		f.Add(s)
	}
	ix := testIndex()
	f.Fuzz(func(t *testing.T, domain string) {
		m, ok := ix.Lookalike(domain)
		if ok && (m.Protected == "" || m.Explanation == "" || !utf8.ValidString(m.Explanation) && utf8.ValidString(domain)) {
			t.Fatalf("%q: match without a protected domain or an explanation: %+v", domain, m)
		}
	})
}

// FuzzDisplay: display texts of any content are judged without panics,
// and a person is only matched with at least two of the text's words.
func FuzzDisplay(f *testing.F) {
	for _, s := range []string{"Jane Doe", "ceo@example.org", "Doe, Jane (CEO)", "J", "\u200b", "＠"} {
		f.Add(s)
	}
	ix := testIndex()
	f.Fuzz(func(t *testing.T, text string) {
		if m, ok := ix.Display(text, true); ok && m.Kind == KindPerson && len(words(text)) < 2 {
			t.Fatalf("%q: person %s matched with fewer than two words", text, m.Person)
		}
	})
}
