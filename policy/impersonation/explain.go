package impersonation

import (
	"fmt"
	"strings"
	"unicode"
)

// match builds the result for a domain found to resemble target i.
func (ix *Index) match(n name, written string, i int, kind Kind) Match {
	t := &ix.targets[i]
	detail := why(n, t, kind)
	if n.unicode != n.ascii && isASCII(written) {
		detail = "written " + n.ascii + "; " + detail
	}
	return Match{
		Kind:        kind,
		Protected:   t.domain,
		Subject:     n.unicode,
		Explanation: n.unicode + " (" + detail + ") looks like " + t.name.unicode,
	}
}

// why says what makes the name resemble the target.
func why(n name, t *target, kind Kind) string {
	other := ""
	if n.suffix != t.name.suffix {
		other = ", under ." + toUnicode(n.suffix)
	}
	switch kind {
	case KindSuffix:
		return "the same name under ." + toUnicode(n.suffix) + " instead of ." + toUnicode(t.name.suffix)
	case KindHyphen:
		if strings.Contains(n.label, "-") {
			return "the name " + t.name.label + " with a hyphen" + other
		}
		return "the name " + t.name.label + " with its suffix run in" + other
	case KindLabel:
		return "the name " + t.name.label + " as an extra label"
	}
	return difference(n.label, t.name.label) + other
}

// difference describes how a differs from b where they differ: the common
// beginning and end are set aside and the middle named, with its position
// (counted in characters from 1) in a.
func difference(a, b string) string {
	ra, rb := []rune(a), []rune(b)
	p := 0
	for p < len(ra) && p < len(rb) && ra[p] == rb[p] {
		p++
	}
	s := 0
	for s < len(ra)-p && s < len(rb)-p && ra[len(ra)-1-s] == rb[len(rb)-1-s] {
		s++
	}
	ma, mb := ra[p:len(ra)-s], rb[p:len(rb)-s]
	switch {
	case len(ma) == 0 && len(mb) == 0:
		return "letters that look alike"
	case len(ma) == 0:
		return fmt.Sprintf("%s missing at position %d", describe(mb), p+1)
	case len(mb) == 0:
		return fmt.Sprintf("extra %s at position %d", describe(ma), p+1)
	case len(ma) == 2 && len(mb) == 2 && ma[0] == mb[1] && ma[1] == mb[0]:
		return fmt.Sprintf("%c and %c swapped at position %d", ma[0], ma[1], p+1)
	}
	return fmt.Sprintf("%s in place of %s at position %d", describe(ma), describe(mb), p+1)
}

// describe names characters the way a reader needs to hear them: a plain
// letter as itself, a digit as a digit, anything else with its script.
func describe(rs []rune) string {
	if len(rs) != 1 {
		if sc := script(rs[0]); sc != "" && sameScript(rs, sc) {
			return sc + " " + string(rs)
		}
		return string(rs)
	}
	r := rs[0]
	switch {
	case r >= 'a' && r <= 'z' || r == '-':
		return string(r)
	case r >= '0' && r <= '9':
		return "digit " + string(r)
	}
	if sc := script(r); sc != "" {
		return sc + " " + string(r)
	}
	return fmt.Sprintf("%c (U+%04X)", r, r)
}

// script names the script of a letter that is not plain ASCII, or "".
func script(r rune) string {
	if r < 0x80 {
		return ""
	}
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

func sameScript(rs []rune, sc string) bool {
	for _, r := range rs {
		if script(r) != sc {
			return false
		}
	}
	return true
}
