package dnsauth

// The organizational domain (RFC 7489 §3.2) is what relaxed DMARC
// alignment compares: mail.example.org and bounce.example.org both belong
// to example.org, while user1.github.io and user2.github.io belong to two
// different owners. RFC 7489 takes it from the Public Suffix List; the
// list compiled into golang.org/x/net/publicsuffix is used here, private
// section included, so hosting suffixes such as github.io count as public
// suffixes. DMARCbis replaces the list by a DNS tree walk (see dmarc.go);
// this file is only the list side.

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// OrgDomain returns the organizational domain of domain (RFC 7489 §3.2):
// the public suffix plus one label. The name is first normalised with
// orgNormalize (lower case, trailing dot trimmed, U-labels turned into
// A-labels). A name that has no registrable part (a bare public suffix, a
// single label, an IP address, an empty label) is its own organizational
// domain, so it can only ever align with itself.
func OrgDomain(domain string) string {
	name := orgNormalize(domain)
	if org, ok := orgRegistrable(name); ok {
		return org
	}
	return name
}

// orgRegistrable returns the public suffix plus one label of an already
// normalised name, and false when there is none. publicsuffix keeps case,
// rejects a trailing dot and happily answers for an IP address, so the
// caller normalises and the IP check is done here.
func orgRegistrable(name string) (string, bool) {
	if name == "" || orgIsIP(name) {
		return "", false
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		return "", false
	}
	return org, true
}

// orgIsIP reports whether name is an IP address, bare or as an RFC 5321
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func orgIsIP(name string) bool {
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		return true
	}
	_, err := netip.ParseAddr(name)
	return err == nil
}

// orgNormalize puts a domain name into the one form every comparison in
// this package uses: ASCII lower case, no trailing dots, internationalised
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
func orgNormalize(domain string) string {
	if orgIsASCII(domain) {
		return strings.TrimRight(strings.ToLower(domain), ".")
	}
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		if utf8.ValidString(l) {
			labels[i] = strings.TrimFunc(strings.Map(orgDropInvisible, l), unicode.IsSpace)
		}
	}
	domain = strings.Join(labels, ".")
	if orgIsASCII(domain) {
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
	return strings.TrimRight(orgLowerASCII(strings.Join(labels, ".")), ".")
}

// orgDropInvisible is a strings.Map function removing format characters.
func orgDropInvisible(r rune) rune {
	if unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

func orgIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// orgLowerASCII lower-cases ASCII letters only and leaves every other byte
// alone (strings.ToLower would turn invalid UTF-8 into U+FFFD).
func orgLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
