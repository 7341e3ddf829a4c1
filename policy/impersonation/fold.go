package impersonation

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// key is the comparison form of a piece of text: two strings a reader
// cannot tell apart have the same key. It is NFKC (mathematical and
// full-width letters become plain ones), full case folding, the UTS #39
// skeleton (Cyrillic а and Latin a, digit 1 and letter l, rn and m), lower
// case again (the skeleton maps some letters to capitals, digit 0 to O),
// and finally without combining marks or invisible format characters,
// since an accent or a zero-width joiner hardly changes what is seen.
func key(s string) string {
	if isASCII(s) {
		return asciiKey(s)
	}
	return unicodeKey(s)
}

func unicodeKey(s string) string {
	s = cases.Fold().String(norm.NFKC.String(s))
	s = strings.ToLower(confusables.Skeleton(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if !invisible(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// plain is the comparison form without the skeleton: NFKC, folded, no
// marks or format characters. Edit distances are measured on both forms,
// because the skeleton spells m as rn, which puts "exmaple" two edits
// away from "example" instead of one.
func plain(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	s = norm.NFD.String(cases.Fold().String(norm.NFKC.String(s)))
	return strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, s)
}

// invisible reports combining marks and format characters (zero-width
// space and joiners, soft hyphen, directional marks).
func invisible(r rune) bool {
	return unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r)
}

// asciiKeyTable holds the key of each ASCII character. For ASCII text
// normalisation and folding work character by character, so the key of a
// string is the concatenation of its characters' keys: the common case
// costs one table look-up per byte and no Unicode processing.
var asciiKeyTable = sync.OnceValue(func() *[utf8.RuneSelf]string {
	var t [utf8.RuneSelf]string
	for c := range t {
		t[c] = unicodeKey(string(rune(c)))
	}
	return &t
})

func asciiKey(s string) string {
	t := asciiKeyTable()
	i := 0
	for i < len(s) && t[s[i]] == s[i:i+1] {
		i++
	}
	if i == len(s) {
		return s // nothing changes: no allocation
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		b.WriteString(t[s[i]])
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// visible folds display text for searching: NFKC, case folding, and no
// invisible format characters (a zero-width space inside
// "ceo@exam\u200bple.org" must not hide the address). Letters keep their
// identity here; keys are taken of the pieces found.
func visible(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	s = cases.Fold().String(norm.NFKC.String(s))
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// words splits display text into the keys of its words, for name
// matching: punctuation, spaces and symbols separate words, apostrophes
// join them ("O'Brien" is one word).
func words(s string) []string {
	s = visible(s)
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, key(b.String()))
			b.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '\'' || r == '’' || r == 'ʼ':
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return out
}
