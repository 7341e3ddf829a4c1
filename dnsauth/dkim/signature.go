package dkim

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Signature is what ParseSignature reads from one
// DKIM-Signature header field value (RFC 6376 §3.5). Every string is the
// tag value with its folding whitespace removed.
type Signature struct {
	Version          string    // v=
	Algorithm        string    // a=, e.g. "rsa-sha256" or "ed25519-sha256"
	Domain           string    // d=, the signing domain (SDID), as written
	Selector         string    // s=
	Identifier       string    // i= as written; "" when absent (the AUID is then "@"+Domain)
	Canonicalization string    // c= as written; "" means simple/simple
	Headers          []string  // h=, the signed header field names, lower-cased, in order
	Signature        string    // the first characters of b=, for header.b (RFC 6008)
	Timestamp        time.Time // t=; zero when absent
	Expires          time.Time // x=; zero when absent
	BodyLength       bool      // l= is present: only part of the body is signed
}

// dkimSigPrefix is how much of b= goes into header.b: RFC 6008 §2 asks
// for at least eight characters.
const dkimSigPrefix = 8

// The tags ParseSignature looks at, numbered so duplicates are caught
// with a bit mask instead of a map.
const (
	dkimTagV = iota
	dkimTagA
	dkimTagB
	dkimTagBH
	dkimTagC
	dkimTagD
	dkimTagH
	dkimTagI
	dkimTagL
	dkimTagQ
	dkimTagS
	dkimTagT
	dkimTagX
)

// dkimTagNames maps a tag name to its number.
var dkimTagNames = map[string]int{
	"v": dkimTagV, "a": dkimTagA, "b": dkimTagB, "bh": dkimTagBH, "c": dkimTagC,
	"d": dkimTagD, "h": dkimTagH, "i": dkimTagI, "l": dkimTagL, "q": dkimTagQ,
	"s": dkimTagS, "t": dkimTagT, "x": dkimTagX,
}

// dkimRequiredTags are the tags every signature carries (RFC 6376 §3.5).
var dkimRequiredTags = [...]string{"v", "a", "b", "bh", "d", "h", "s"}

// dkimTags is one signature's raw tag values, as found.
type dkimTags struct {
	seen uint32
	val  [dkimTagX + 1]string
}

func (t *dkimTags) has(tag int) bool { return t.seen&(1<<tag) != 0 }

// ParseSignature reads the tags of one DKIM-Signature header field
// value. It is cheap (no key lookup, no hashing, few allocations) so the
// engine can ask at end of headers which signatures could still align with
// the From domain.
//
// An error means the signature can never pass: a tag without "=", a
// duplicate tag, a missing required tag, v= other than 1, an algorithm or
// canonicalization other than those RFC 6376 and RFC 8463 define (rsa-sha1
// is refused, RFC 8301 §3.1), an i= outside d=, h= without From (RFC 6376
// §5.4), a bad t= or x=, or b=/bh= that is not base64. The info then holds
// what could be read. Even without an error, a signature with l=
// (BodyLength) never passes here, nor one past its x=. The checks never go
// beyond what the verifier itself refuses before it fetches the key, so a
// signature accepted here is one the verifier really tries.
func ParseSignature(value string) (Signature, error) {
	var info Signature
	var tags dkimTags
	if err := tags.scan(value); err != nil {
		tags.fill(&info)
		return info, err
	}
	tags.fill(&info)
	return info, tags.check(&info)
}

// scan splits a tag list (RFC 6376 §3.2) and keeps the known tags.
func (t *dkimTags) scan(list string) error {
	for rest := list; rest != ""; {
		var spec string
		spec, rest, _ = strings.Cut(rest, ";")
		name, val, ok := strings.Cut(spec, "=")
		if !ok {
			if strings.TrimSpace(spec) == "" {
				continue
			}
			return fmt.Errorf("tag without '=': %q", dkimClip(strings.TrimSpace(spec)))
		}
		tag, known := dkimTagNames[strings.TrimSpace(name)]
		if !known {
			continue // RFC 6376 §3.2: unknown tags are ignored
		}
		if t.has(tag) {
			return fmt.Errorf("duplicate tag %s=", strings.TrimSpace(name))
		}
		t.seen |= 1 << tag
		t.val[tag] = strings.TrimSpace(val)
	}
	return nil
}

// fill copies the tag values into info.
func (t *dkimTags) fill(info *Signature) {
	info.Version = dkimStripSpace(t.val[dkimTagV])
	info.Algorithm = dkimStripSpace(t.val[dkimTagA])
	info.Domain = dkimStripSpace(t.val[dkimTagD])
	info.Selector = dkimStripSpace(t.val[dkimTagS])
	info.Identifier = dkimStripSpace(t.val[dkimTagI])
	info.Canonicalization = dkimStripSpace(t.val[dkimTagC])
	info.Headers = dkimHeaderList(t.val[dkimTagH])
	info.Signature = dkimPrefix(t.val[dkimTagB], dkimSigPrefix)
	info.BodyLength = t.has(dkimTagL)
	info.Timestamp, _ = dkimParseTime(t.val[dkimTagT])
	info.Expires, _ = dkimParseTime(t.val[dkimTagX])
}

// check applies the rules that make a parsed signature unusable, in the
// order of RFC 6376 §6.1.1.
func (t *dkimTags) check(info *Signature) error {
	for _, tag := range dkimRequiredTags {
		if !t.has(dkimTagNames[tag]) {
			return fmt.Errorf("missing required tag %s=", tag)
		}
	}
	if info.Version != "1" {
		return fmt.Errorf("unsupported version v=%s", dkimClip(info.Version))
	}
	if info.Domain == "" || info.Selector == "" {
		return errors.New("empty d= or s=")
	}
	for _, check := range []func() error{
		func() error { return dkimCheckAlgorithm(info.Algorithm) },
		func() error { return dkimCheckCanonicalization(info.Canonicalization) },
		func() error { return dkimCheckIdentifier(info.Identifier, info.Domain) },
		func() error { return dkimCheckFrom(info.Headers) },
		t.checkQuery,
		func() error { return t.checkTime(dkimTagT, "t") },
		func() error { return t.checkTime(dkimTagX, "x") },
		func() error { return dkimCheckBase64(t.val[dkimTagB], t.val[dkimTagBH]) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// dkimCheckAlgorithm accepts the two algorithms a verifier may use today:
// rsa-sha256 (RFC 6376) and ed25519-sha256 (RFC 8463). rsa-sha1 must not be
// verified any more (RFC 8301 §3.1).
func dkimCheckAlgorithm(a string) error {
	switch a {
	case "rsa-sha256", "ed25519-sha256":
		return nil
	case "rsa-sha1":
		return errors.New("a=rsa-sha1 is no longer accepted (RFC 8301 §3.1)")
	}
	return fmt.Errorf("unsupported algorithm a=%s", dkimClip(a))
}

// dkimCheckCanonicalization accepts c= of simple or relaxed for the header
// and, after "/", the body (RFC 6376 §3.4); each defaults to simple.
func dkimCheckCanonicalization(c string) error {
	head, body, _ := strings.Cut(c, "/")
	for _, v := range [2]string{head, body} {
		if v != "" && v != "simple" && v != "relaxed" {
			return fmt.Errorf("unsupported canonicalization c=%s", dkimClip(c))
		}
	}
	return nil
}

// dkimCheckIdentifier applies RFC 6376 §3.5 i=: its domain is d= or a
// subdomain of it. Domains compare without regard to case.
func dkimCheckIdentifier(i, d string) error {
	if i == "" {
		return nil
	}
	lower, suffix := strings.ToLower(i), strings.ToLower(d)
	if strings.HasSuffix(lower, "@"+suffix) || strings.HasSuffix(lower, "."+suffix) {
		return nil
	}
	return fmt.Errorf("i=%s is not within d=%s", dkimClip(i), dkimClip(d))
}

// dkimCheckFrom requires From among the signed fields (RFC 6376 §5.4).
func dkimCheckFrom(h []string) error {
	if slices.Contains(h, "from") {
		return nil
	}
	return errors.New("h= does not include From (RFC 6376 §5.4)")
}

// checkQuery accepts q= only when it offers dns/txt, the one query method
// there is (RFC 6376 §3.5).
func (t *dkimTags) checkQuery() error {
	if !t.has(dkimTagQ) {
		return nil
	}
	for m := range strings.SplitSeq(t.val[dkimTagQ], ":") {
		if dkimStripSpace(m) == "dns/txt" {
			return nil
		}
	}
	return fmt.Errorf("unsupported query method q=%s", dkimClip(t.val[dkimTagQ]))
}

// checkTime requires t= or x=, when present, to be a number of seconds.
func (t *dkimTags) checkTime(tag int, name string) error {
	if !t.has(tag) {
		return nil
	}
	if _, err := dkimParseTime(t.val[tag]); err != nil {
		return fmt.Errorf("bad %s=%s", name, dkimClip(t.val[tag]))
	}
	return nil
}

// dkimParseTime reads seconds since the Unix epoch; "" is the zero time.
func dkimParseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseInt(dkimStripSpace(v), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0), nil
}

// dkimCheckBase64 requires b= and bh= to be padded standard base64.
func dkimCheckBase64(b, bh string) error {
	if !dkimIsBase64(b) || !dkimIsBase64(bh) {
		return errors.New("b= or bh= is not base64")
	}
	return nil
}

// dkimHeaderList splits h= at ":" into lower-case field names.
func dkimHeaderList(h string) []string {
	if h == "" {
		return nil
	}
	out := make([]string, 0, strings.Count(h, ":")+1)
	for name := range strings.SplitSeq(h, ":") {
		out = append(out, strings.ToLower(dkimStripSpace(name)))
	}
	return out
}

// dkimStripSpace removes all white space (folding included) from a tag
// value, as go-msgauth does. Values without any come back as they are.
func dkimStripSpace(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == ' ' || (c >= '\t' && c <= '\r') {
			return strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

// dkimIsSpaceByte is ASCII white space.
func dkimIsSpaceByte(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// dkimPrefix returns the first n characters of s that are not white
// space, without copying when they are contiguous.
func dkimPrefix(s string, n int) string {
	i := 0
	for i < len(s) && dkimIsSpaceByte(s[i]) {
		i++
	}
	j := i
	for j < len(s) && j-i < n && !dkimIsSpaceByte(s[j]) {
		j++
	}
	if j-i == n || j == len(s) {
		return s[i:j]
	}
	b := make([]byte, 0, n)
	for k := i; k < len(s) && len(b) < n; k++ {
		if !dkimIsSpaceByte(s[k]) {
			b = append(b, s[k])
		}
	}
	return string(b)
}

// dkimIsBase64 reports whether v, white space aside, is padded standard
// base64 as go-msgauth decodes it.
func dkimIsBase64(v string) bool {
	n, pad := 0, 0
	for _, r := range v {
		switch {
		case unicode.IsSpace(r):
			continue
		case r == '=':
			pad++
		case pad > 0:
			return false
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/':
		default:
			return false
		}
		n++
	}
	return n%4 == 0 && pad <= 2
}

// dkimClip shortens a hostile value before it goes into a reason.
func dkimClip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
