package header

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Domain names as they appear in addresses, normalised to the one form
// that every comparison downstream uses (DMARC alignment, the
// organizational domain, the protected-domain list).

// NormalizeDomain puts a domain name into the one form every comparison
// of domains uses: ASCII lower case, no trailing dots, internationalised
// labels as A-labels (RFC 5890 §2.3.2.1; DMARCbis §5.3.1 requires the
// conversion). UTS #46 mapping is applied, so full-width letters and the
// ideographic full stop become their ASCII equivalents, as a resolver
// would see them. Invisible format characters (Unicode Cf: zero-width
// spaces and joiners, bidi controls, the BOM) are removed first: a mail
// client shows "example.org\u200b" as example.org, so it must count as
// example.org. So is white space around each label (a no-break space
// after the name is invisible too). When IDNA refuses the whole name
// (invalid UTF-8, a disallowed character), the labels it accepts are
// still converted, one by one, and the others only lower-cased: such a
// name stays distinct from every real one, and normalising the result, or
// any of its parents, again changes nothing.
func NormalizeDomain(domain string) string {
	if isASCII(domain) {
		return strings.TrimRight(strings.ToLower(domain), ".")
	}
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		if utf8.ValidString(l) {
			labels[i] = strings.TrimFunc(strings.Map(dropInvisible, l), unicode.IsSpace)
		}
	}
	domain = strings.Join(labels, ".")
	if isASCII(domain) {
		return strings.TrimRight(strings.ToLower(domain), ".")
	}
	if utf8.ValidString(domain) {
		if a, err := idna.Lookup.ToASCII(domain); err == nil {
			return strings.TrimRight(strings.ToLower(a), ".")
		}
	}
	for i, l := range labels {
		if !utf8.ValidString(l) {
			continue // IDNA would turn the bad bytes into U+FFFD
		}
		if a, err := idna.Lookup.ToASCII(l); err == nil {
			labels[i] = a
		}
	}
	return strings.TrimRight(lowerASCII(strings.Join(labels, ".")), ".")
}

// dropInvisible is a strings.Map function removing format characters.
func dropInvisible(r rune) rune {
	if unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters only and leaves every other byte
// alone (strings.ToLower would turn invalid UTF-8 into U+FFFD).
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
