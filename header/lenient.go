package header

import "strings"

// The lenient scan behind ParseFrom, for values the strict parser refuses.

// fromLenientScan is the fallback for a header value the strict parser
// refused. It cannot know where a display name ends, so it reports every
// "@domain" in the value, with the local part that precedes it when there
// is one: a domain a reader might take for the author's must not slip
// through, and one too many only makes the engine stricter. The single
// exception is a well-formed quoted string directly followed by '<',
// which can only be a display name.
func fromLenientScan(s string) []fromMailbox {
	var boxes []fromMailbox
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			if end, ok := fromQuotedDisplayName(s, i); ok {
				i = end
			}
		case '@':
			d, end := fromScanDomain(s, i+1)
			if d == "" {
				continue
			}
			boxes = append(boxes, fromMailbox{local: fromScanLocal(s, i), domain: d, hasDomain: true})
			i = end - 1
		}
	}
	return boxes
}

// fromQuotedDisplayName reports whether the quoted string opening at
// s[open] is closed and followed, after white space, by '<'; end is the
// index of its closing quote.
func fromQuotedDisplayName(s string, open int) (end int, ok bool) {
	i := open + 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' {
			i++
		}
	}
	if i >= len(s) {
		return 0, false
	}
	end = i
	for i++; i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'); i++ {
	}
	return end, i < len(s) && s[i] == '<'
}

// fromScanDomain reads the domain after an '@' at s[start-1], allowing
// white space before it, and returns it normalised (stray leading and
// trailing dots dropped) with the index just past it.
func fromScanDomain(s string, start int) (string, int) {
	i := start
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && s[i] == '[' {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return strings.ToLower(s[i : i+j+1]), i + j + 1
		}
	}
	j := i
	for j < len(s) && fromIsDomainByte(s[j]) {
		j++
	}
	d := strings.Trim(s[i:j], ".")
	if d == "" {
		return "", j
	}
	return NormalizeDomain(d), j
}

// fromIsDomainByte is the set of bytes the lenient scan takes as part of a
// domain: what the strict parser accepts in a dot-atom (atext, which
// includes the bytes of UTF-8 sequences, and dots).
func fromIsDomainByte(c byte) bool {
	return c == '.' || fromIsAtext(c)
}

// fromScanLocal returns the dot-atom that ends just before the '@' at
// s[at]. The scan stops at the first byte that is neither atext nor a dot,
// and '@' is neither, so a byte is read at most twice over all scans.
func fromScanLocal(s string, at int) string {
	i := at
	for i > 0 && (fromIsAtext(s[i-1]) || s[i-1] == '.') {
		i--
	}
	return s[i:at]
}
