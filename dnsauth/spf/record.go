package spf

// SPF record syntax (RFC 7208 §4.5, §4.6 and the ABNF of §12).
//
// The evaluation itself is done by blitiri.com.ar/go/spf, which parses a
// record term by term while it evaluates it and so only notices a syntax
// error once it reaches the broken term: a record such as
// "v=spf1 ip4:192.0.2.1 ip4:1.2.3.4/99 -all" passes 192.0.2.1 there. RFC 7208
// §4.6 wants the whole record checked first, so Check runs every record
// the library fetches through the checker below, and the audit and the relay
// network expansion use the same parser. The scanner works on substrings of
// the record and allocates nothing unless it reports an error.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Record is a parsed "v=spf1" record.
type Record struct {
	Terms    []Term // the mechanisms (directives), in record order
	All      string // "-all", "~all", "?all", "+all", or "" when the record has no all
	Redirect string // the redirect= domain-spec, "" when absent
	Exp      string // the exp= domain-spec, "" when absent
	Raw      string // the record as published
}

// Term is one directive of a record (RFC 7208 §4.6.1): a qualifier and a
// mechanism with its argument.
type Term struct {
	Qualifier byte   // '+', '-', '~' or '?'; '+' when the record wrote none
	Mechanism string // all, include, a, mx, ptr, ip4, ip6 or exists (lower case)
	Value     string // domain-spec of include/a/mx/ptr/exists (may be "" for a, mx, ptr), network of ip4/ip6
	// Prefix4 and Prefix6 are the CIDR lengths applied to IPv4 and IPv6
	// addresses (RFC 7208 §5.6). They are 32 and 128 when the term gives
	// none; an ip4 term only sets Prefix4 and an ip6 term only Prefix6.
	Prefix4, Prefix6 int
}

// String writes the term back in record syntax, with the qualifier only
// when it is not the default "+".
func (t Term) String() string {
	var b strings.Builder
	if t.Qualifier != '+' && t.Qualifier != 0 {
		b.WriteByte(t.Qualifier)
	}
	b.WriteString(t.Mechanism)
	if t.Value != "" {
		b.WriteByte(':')
		b.WriteString(t.Value)
	}
	if t.Prefix4 != 32 && t.Mechanism != "ip6" {
		b.WriteString("/" + strconv.Itoa(t.Prefix4))
	}
	if t.Prefix6 != 128 {
		if t.Mechanism != "ip6" {
			b.WriteByte('/')
		}
		b.WriteString("/" + strconv.Itoa(t.Prefix6))
	}
	return b.String()
}

// DNSQuerying reports whether the term makes a DNS query when evaluated and
// so counts against the limit of 10 (RFC 7208 §4.6.4).
func (t Term) DNSQuerying() bool {
	switch t.Mechanism {
	case "include", "a", "mx", "ptr", "exists":
		return true
	}
	return false
}

// SyntaxError says which term of a record breaks the RFC 7208 grammar.
type SyntaxError struct {
	Term   string // the offending term as written ("" for record-level errors)
	Index  int    // 1-based position of the term after "v=spf1" (0 for record-level errors)
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Term == "" && e.Index == 0 {
		return "invalid SPF record: " + e.Reason
	}
	return fmt.Sprintf("invalid SPF record: term %d %q: %s", e.Index, e.Term, e.Reason)
}

// IsRecord reports whether a TXT string is an SPF record: "v=spf1"
// (any case) alone or followed by a space (RFC 7208 §4.5). Everything else
// found at the name, "v=spf10" included, is some other TXT record.
func IsRecord(txt string) bool {
	const v = "v=spf1"
	if len(txt) < len(v) || !strings.EqualFold(txt[:len(v)], v) {
		return false
	}
	return len(txt) == len(v) || txt[len(v)] == ' '
}

// Parse parses an SPF record. A record that does not follow the
// grammar of RFC 7208 §12 in every term, or that repeats redirect= or exp=
// (§6), gives an *SyntaxError: receivers return permerror for it.
func Parse(txt string) (*Record, error) {
	rec := &Record{Raw: txt}
	err := spfScanRecord(txt, func(t spfScanned) {
		switch {
		case t.modifier && spfIsName(t.name, "redirect"):
			rec.Redirect = t.value
		case t.modifier && spfIsName(t.name, "exp"):
			rec.Exp = t.value
		case t.modifier:
			// Unknown modifiers are ignored (RFC 7208 §6).
		default:
			term := t.term()
			if term.Mechanism == "all" && rec.All == "" {
				rec.All = string(term.Qualifier) + "all"
			}
			rec.Terms = append(rec.Terms, term)
		}
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// spfCheckRecord validates a record without building it; Check calls it
// on every record the evaluation fetches.
func spfCheckRecord(txt string) error {
	return spfScanRecord(txt, nil)
}

// spfScanned is one term as the scanner found it, every string a substring
// of the record.
type spfScanned struct {
	modifier         bool
	qualifier        byte
	name             string // mechanism or modifier name as written
	value            string
	prefix4, prefix6 int
}

func (t spfScanned) term() Term {
	return Term{Qualifier: t.qualifier, Mechanism: strings.ToLower(t.name),
		Value: t.value, Prefix4: t.prefix4, Prefix6: t.prefix6}
}

// spfScanRecord walks the terms of a record, calling each (when not nil)
// for every valid term, and stops at the first error.
//
//	record = version terms *SP          (RFC 7208 §12)
//	terms  = *( 1*SP ( directive / modifier ) )
func spfScanRecord(txt string, each func(spfScanned)) error {
	if !IsRecord(txt) {
		return &SyntaxError{Reason: `it does not start with "v=spf1"`}
	}
	rest := txt[len("v=spf1"):]
	var sawRedirect, sawExp bool
	for index := 1; ; index++ {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return nil
		}
		raw := rest
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			raw, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		t, reason := spfScanTerm(raw)
		if reason == "" && t.modifier {
			reason = spfOnce(t.name, &sawRedirect, &sawExp)
		}
		if reason != "" {
			return &SyntaxError{Term: raw, Index: index, Reason: reason}
		}
		if each != nil {
			each(t)
		}
	}
}

// spfOnce enforces that redirect= and exp= appear at most once (RFC 7208 §6).
func spfOnce(name string, sawRedirect, sawExp *bool) string {
	seen := sawExp
	if spfIsName(name, "redirect") {
		seen = sawRedirect
	} else if !spfIsName(name, "exp") {
		return ""
	}
	if *seen {
		return strings.ToLower(name) + "= appears more than once (RFC 7208 §6)"
	}
	*seen = true
	return ""
}

// spfScanTerm parses one term. A term whose leading name is followed by "="
// is a modifier (RFC 7208 §4.6.1); anything else must be a directive.
func spfScanTerm(term string) (spfScanned, string) {
	for i := 0; i < len(term); i++ {
		if c := term[i]; c < 0x21 || c > 0x7e {
			return spfScanned{}, fmt.Sprintf("character 0x%02x is not allowed (RFC 7208 §12: visible ASCII only)", c)
		}
	}
	if i := strings.IndexAny(term, ":/="); i > 0 && term[i] == '=' && spfValidName(term[:i]) {
		return spfScanModifier(term[:i], term[i+1:])
	}
	t := spfScanned{qualifier: '+', prefix4: 32, prefix6: 128}
	if strings.IndexByte("+-~?", term[0]) >= 0 {
		t.qualifier, term = term[0], term[1:]
	}
	end := strings.IndexAny(term, ":/")
	if end < 0 {
		end = len(term)
	}
	t.name = term[:end]
	arg := term[end:]
	reason := spfScanMechanism(&t, strings.ToLower(t.name), arg)
	return t, reason
}

func spfScanModifier(name, value string) (spfScanned, string) {
	t := spfScanned{modifier: true, name: name, value: value}
	if spfIsName(name, "redirect") || spfIsName(name, "exp") {
		// redirect = "redirect" "=" domain-spec; explanation = "exp" "=" domain-spec
		return t, spfCheckDomainSpec(value)
	}
	// unknown-modifier = name "=" macro-string
	return t, spfCheckMacroString(value)
}

// spfScanMechanism checks the argument of mechanism name (RFC 7208 §5).
func spfScanMechanism(t *spfScanned, name, arg string) string {
	switch name {
	case "all":
		if arg != "" {
			return `"all" takes no argument`
		}
		return ""
	case "include", "exists":
		if !strings.HasPrefix(arg, ":") {
			return `"` + name + `" needs ":" and a domain`
		}
		t.value = arg[1:]
		return spfCheckDomainSpec(t.value)
	case "a", "mx":
		return spfScanHostMechanism(t, arg, true)
	case "ptr":
		return spfScanHostMechanism(t, arg, false)
	case "ip4", "ip6":
		return spfScanIP(t, name, arg)
	case "":
		return "empty mechanism name"
	}
	return "unknown mechanism " + strconv.Quote(name)
}

// spfScanHostMechanism handles a, mx and ptr:
//
//	a   = "a"   [ ":" domain-spec ] [ dual-cidr-length ]
//	ptr = "ptr" [ ":" domain-spec ]
//
// A domain-spec may itself hold "/" (RFC 7208 §7.1 allows every visible
// character but "%"), so the CIDR length is taken from the end of the term.
func spfScanHostMechanism(t *spfScanned, arg string, cidr bool) string {
	spec, lengths := arg, ""
	if cidr {
		spec, lengths = spfSplitCIDR(arg)
	}
	if strings.HasPrefix(spec, ":") {
		t.value = spec[1:]
		if reason := spfCheckDomainSpec(t.value); reason != "" {
			return reason
		}
	} else if spec != "" {
		if !cidr {
			return "ptr takes no CIDR length"
		}
		return "bad CIDR length " + strconv.Quote(spec)
	}
	if lengths == "" {
		return ""
	}
	return spfScanDualCIDR(t, lengths)
}

// spfSplitCIDR splits the trailing dual-cidr-length ("/24", "//64",
// "/24//64", or digits that are out of range, for a clear error later)
// from the rest of an a or mx argument.
func spfSplitCIDR(arg string) (rest, lengths string) {
	rest = arg
	cut := func(double bool) bool {
		i := len(rest)
		for i > 0 && rest[i-1] >= '0' && rest[i-1] <= '9' {
			i--
		}
		if i == len(rest) || i == 0 || rest[i-1] != '/' {
			return false
		}
		i--
		isDouble := i > 0 && rest[i-1] == '/'
		if isDouble != double {
			return false
		}
		if double {
			i--
		}
		rest = rest[:i]
		return true
	}
	cut(true)
	cut(false)
	return rest, arg[len(rest):]
}

// spfScanDualCIDR parses dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ],
// that is "/24", "//64" or "/24//64".
func spfScanDualCIDR(t *spfScanned, arg string) string {
	if !strings.HasPrefix(arg, "/") {
		return "unexpected text after the domain"
	}
	rest := arg
	if !strings.HasPrefix(rest, "//") {
		v4 := rest[1:]
		if i := strings.IndexByte(v4, '/'); i >= 0 {
			v4, rest = v4[:i], v4[i:]
		} else {
			rest = ""
		}
		n, ok := spfCIDRLength(v4, 32)
		if !ok {
			return "bad IPv4 CIDR length " + strconv.Quote(v4) + " (0-32)"
		}
		t.prefix4 = n
	}
	if rest == "" {
		return ""
	}
	if !strings.HasPrefix(rest, "//") {
		return "bad CIDR length " + strconv.Quote(arg)
	}
	n, ok := spfCIDRLength(rest[2:], 128)
	if !ok {
		return "bad IPv6 CIDR length " + strconv.Quote(rest[2:]) + " (0-128)"
	}
	t.prefix6 = n
	return ""
}

// spfCIDRLength parses "0" / %x31-39 0*2DIGIT up to max: no sign, no
// leading zero (RFC 7208 §12 ip4-cidr-length, ip6-cidr-length).
func spfCIDRLength(s string, max int) (int, bool) {
	if s == "" || len(s) > 3 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= max
}

// spfScanIP handles ip4 = "ip4" ":" ip4-network [ ip4-cidr-length ] and the
// ip6 form. The address must be of the mechanism's own family.
func spfScanIP(t *spfScanned, name, arg string) string {
	if !strings.HasPrefix(arg, ":") || len(arg) == 1 {
		return `"` + name + `" needs ":" and an address`
	}
	network, length := arg[1:], ""
	if i := strings.IndexByte(network, '/'); i >= 0 {
		network, length = network[:i], network[i+1:]
	}
	addr, err := netip.ParseAddr(network)
	v4 := name == "ip4"
	if err != nil || addr.Zone() != "" || addr.Is4() != v4 {
		return "bad " + name + " address " + strconv.Quote(network)
	}
	t.value = network
	if length == "" && !strings.Contains(arg, "/") {
		return ""
	}
	max := 128
	if v4 {
		max = 32
	}
	n, ok := spfCIDRLength(length, max)
	if !ok {
		return "bad CIDR length " + strconv.Quote(length) + " (0-" + strconv.Itoa(max) + ")"
	}
	if v4 {
		t.prefix4 = n
	} else {
		t.prefix6 = n
	}
	return ""
}

// spfCheckDomainSpec checks domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1).
func spfCheckDomainSpec(s string) string {
	if s == "" {
		return "empty domain"
	}
	if reason := spfCheckMacroString(s); reason != "" {
		return reason
	}
	if spfEndsWithMacro(s) {
		return ""
	}
	name := strings.TrimSuffix(s, ".")
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return "domain " + strconv.Quote(s) + " is a single label"
	}
	if !spfTopLabel(name[dot+1:]) {
		return "domain " + strconv.Quote(s) + " does not end in a valid top label"
	}
	return ""
}

// spfEndsWithMacro reports whether a syntactically valid macro-string ends
// with a macro-expand: "%{...}", "%%", "%_" or "%-". A "}" or one of those
// characters may also be a plain literal, so the string is rescanned.
func spfEndsWithMacro(s string) bool {
	last := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+1 < len(s) && s[i+1] == '{':
			i += strings.IndexByte(s[i:], '}')
			last = true
		case s[i] == '%':
			i++
			last = true
		default:
			last = false
		}
	}
	return last
}

// spfTopLabel: toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ). That is, letters, digits
// and inner hyphens, and not all digits.
func spfTopLabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	digits := true
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case spfIsAlpha(c), c == '-':
			digits = false
		case c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return !digits
}

// spfCheckMacroString checks macro-string = *( macro-expand / macro-literal ).
// The term was already checked to hold visible ASCII only, so every byte
// but "%" is a macro-literal (%x21-24 / %x26-7E).
func spfCheckMacroString(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			n, reason := spfScanMacro(s[i:])
			if reason != "" {
				return reason
			}
			i += n - 1
		}
	}
	return ""
}

// spfScanMacro scans one macro-expand at the start of s and returns its
// length. The letters c, r and t are for exp= text only (RFC 7208 §7.2),
// and a digit transformer of zero is not allowed (§7.3).
func spfScanMacro(s string) (int, string) {
	if len(s) < 2 {
		return 0, `"%" at the end of the record`
	}
	switch s[1] {
	case '%', '_', '-':
		return 2, ""
	case '{':
	default:
		return 0, `"%" must be followed by "{", "%", "_" or "-"`
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, "unterminated macro"
	}
	body := s[2:end]
	if body != "" && strings.IndexByte("crtCRT", body[0]) >= 0 {
		return 0, "macro " + strconv.Quote(s[:end+1]) + " is allowed in explanation text only (RFC 7208 §7.2)"
	}
	if body == "" || strings.IndexByte("slodiphvSLODIPHV", body[0]) < 0 {
		return 0, "bad macro letter in " + strconv.Quote(s[:end+1])
	}
	i := 1
	for i < len(body) && body[i] >= '0' && body[i] <= '9' {
		i++
	}
	if i > 1 && strings.Trim(body[1:i], "0") == "" {
		return 0, "zero digit transformer in " + strconv.Quote(s[:end+1])
	}
	if i < len(body) && (body[i] == 'r' || body[i] == 'R') {
		i++
	}
	for ; i < len(body); i++ {
		if strings.IndexByte(".-+,/_=", body[i]) < 0 {
			return 0, "bad macro delimiter in " + strconv.Quote(s[:end+1])
		}
	}
	return end + 1, ""
}

// spfValidName: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
func spfValidName(s string) bool {
	if s == "" || !spfIsAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !spfIsAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func spfIsAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// spfIsName compares a mechanism or modifier name, which are
// case-insensitive (RFC 7208 §4.6.1).
func spfIsName(s, name string) bool { return strings.EqualFold(s, name) }
