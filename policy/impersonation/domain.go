package impersonation

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// name is a domain in the forms the index compares.
type name struct {
	ascii   string // lower case, A-labels, no trailing dot
	unicode string // the same with U-labels: what a reader sees
	reg     string // registrable domain (public suffix plus one label), A-labels
	label   string // the registrable label as U-label: "example"
	suffix  string // the public suffix, A-labels: "org", "co.uk"
	sub     string // the labels left of the registrable domain, U-labels; "" when none
}

// parseName reads a domain written with A-labels, U-labels or both, in
// any case (RFC 5890 §2.3.2.1). Raw punycode rules are used on purpose:
// a name that a registry would refuse can still stand in a header, and
// it must still be compared. ok is false for what has no registrable
// part: a bare public suffix, a single label, an address literal.
func parseName(s string) (name, bool) {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if s == "" || strings.ContainsAny(s, "[]:@ ") {
		return name{}, false
	}
	n := name{ascii: s, unicode: s}
	if !isASCII(s) {
		a, err := idna.Punycode.ToASCII(s)
		if err != nil {
			return name{}, false
		}
		n.ascii = a
	}
	if strings.Contains(n.ascii, "xn--") {
		if u, err := idna.Punycode.ToUnicode(n.ascii); err == nil {
			n.unicode = strings.ToLower(u)
		}
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(n.ascii)
	if err != nil {
		return name{}, false
	}
	n.reg = reg
	label, suffix, _ := strings.Cut(reg, ".")
	n.label, n.suffix = toUnicode(label), suffix
	if sub := strings.TrimSuffix(n.ascii, reg); sub != "" {
		n.sub = toUnicode(strings.TrimSuffix(sub, "."))
	}
	return n, true
}

func toUnicode(s string) string {
	if !strings.Contains(s, "xn--") {
		return s
	}
	u, err := idna.Punycode.ToUnicode(s)
	if err != nil {
		return s
	}
	return strings.ToLower(u)
}

// genericLabels are registrable labels too common to stand for one
// organisation inside another name: a protected "mail.example" must not
// turn every "mail.partner.example" host into a lookalike.
var genericLabels = map[string]bool{
	"mail": true, "email": true, "smtp": true, "imap": true, "mx": true, "www": true, "web": true,
	"info": true, "news": true, "shop": true, "online": true, "cloud": true, "support": true,
	"service": true, "services": true, "login": true, "account": true, "secure": true, "home": true,
}

// distinctive reports whether a protected label is long and particular
// enough to be looked for as a part of other names (hyphenated, as an
// extra label). Very short labels ("ab", "ibm") would match by chance.
func distinctive(plainLabel string) bool {
	return len([]rune(plainLabel)) >= 4 && !genericLabels[plainLabel]
}

// maxEdits is how many edits away from a protected label a name may be
// and still count as its lookalike. Short names are left to the skeleton
// alone: with five letters or fewer, real unrelated names lie one edit
// apart too often.
func maxEdits(plainLabel string) int {
	switch n := len([]rune(plainLabel)); {
	case n >= 10:
		return 2
	case n >= 6:
		return 1
	}
	return 0
}
