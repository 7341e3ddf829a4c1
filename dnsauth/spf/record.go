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
	"context"
	"fmt"
	"github.com/spoofguard/spoofguard/dnsauth"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
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

// Analysis describes a domain's SPF policy as a whole: its record, the
// records it pulls in through include and redirect, the RFC 7208 limits it
// stays within or breaks, and every network it authorizes. The engine
// learns a filtering relay's addresses from it; `spoofguard audit` judges a
// domain's posture with it.
type Analysis struct {
	Domain      string
	Records     []string // every v=spf1 TXT found at Domain (more than one is an error, RFC 7208 §4.5)
	Record      *Record  // the record at Domain, nil when there is none or it does not parse
	Lookups     int      // DNS-querying terms counted through include/redirect (RFC 7208 §4.6.4)
	VoidLookups int      // those lookups that found nothing (NXDOMAIN or no answer)
	All         string   // the effective final all ("-all", "~all", "?all", "+all"), following redirect; "" for none
	// Networks is every address that a "+" ip4, ip6, a or mx term
	// authorizes, through "+" includes and redirect, with the terms' CIDR
	// lengths. Terms whose result depends on the message (exists, ptr,
	// macros) cannot be listed and are named in Unexpanded instead.
	Networks   []netip.Prefix
	Unexpanded []string
	// MinTTL is how long the analysis may be reused. The resolver does not
	// report record TTLs, so it is a fixed refresh interval (Refresh).
	MinTTL    time.Duration
	Problems  []string // syntax errors, limits broken, multiple records, loops, macros, +all
	TempError bool     // a lookup failed temporarily: the analysis is incomplete
}

// Refresh is how long an Analysis is taken to hold before it should
// be made again (its MinTTL).
const Refresh = 15 * time.Minute

// The walk is bounded whatever the records say: it goes on past the
// RFC's 10 lookups to report the real count, but never sends more than
// spfMaxQueries queries nor follows includes deeper than spfMaxDepth.
const (
	spfMaxQueries = 50
	spfMaxDepth   = 10
)

// Analyze fetches and walks the SPF policy of domain. It never fails:
// what went wrong is in Problems (and TempError for DNS trouble).
func Analyze(ctx context.Context, dns dnsauth.DNS, domain string) Analysis {
	w := &spfWalker{ctx: ctx, dns: dns, seen: map[string]bool{}, nets: map[netip.Prefix]bool{},
		answers: map[string]spfAnswer{}}
	w.a.MinTTL = Refresh
	d, why := spfDomain(domain)
	w.a.Domain = strings.ToLower(d)
	if why != "" {
		w.a.Domain = domain
		w.problem("domain " + why)
		return w.a
	}
	w.a.All = w.walk(w.a.Domain, "", 0, true)
	w.finish()
	return w.a
}

// spfWalker holds the state of one Analyze walk.
type spfWalker struct {
	ctx     context.Context
	dns     dnsauth.DNS
	a       Analysis
	queries int
	stopped bool
	path    []string // the include/redirect chain being walked, for loops
	seen    map[string]bool
	nets    map[netip.Prefix]bool
	answers map[string]spfAnswer // "TXT example.org" → answer: each query is sent once
}

// spfAnswer is one DNS answer as the walk needs it.
type spfAnswer struct {
	txt  []string
	ips  []net.IPAddr
	mx   []*net.MX
	err  error
	void bool // NXDOMAIN or no records (RFC 7208 §4.6.4)
}

// walk analyses the record of domain, reached through via ("" for the
// domain itself), and returns its effective all. authorize says whether
// the addresses it lists count as authorized (the chain of includes that
// led here is all "+").
func (w *spfWalker) walk(domain, via string, depth int, authorize bool) string {
	rec := w.fetch(domain, via)
	if rec == nil {
		return ""
	}
	w.path = append(w.path, strings.ToLower(domain))
	defer func() { w.path = w.path[:len(w.path)-1] }()
	for i, t := range rec.Terms {
		if t.Mechanism == "all" {
			if i < len(rec.Terms)-1 {
				w.problem(spfWhere(domain) + "terms after \"all\" are never evaluated (RFC 7208 §5.1)")
			}
			if rec.Redirect != "" {
				w.problem(spfWhere(domain) + "redirect= is ignored because the record has \"all\" (RFC 7208 §6.1)")
			}
			return string(t.Qualifier) + "all"
		}
		if t.DNSQuerying() {
			w.a.Lookups++
		}
		w.term(domain, t, depth, authorize && t.Qualifier == '+')
	}
	if rec.Redirect == "" {
		return ""
	}
	w.a.Lookups++ // RFC 7208 §4.6.4: redirect counts as a DNS-querying term
	return w.follow(domain, "redirect="+rec.Redirect, rec.Redirect, depth, authorize)
}

// term expands one mechanism other than all.
func (w *spfWalker) term(domain string, t Term, depth int, authorize bool) {
	if strings.Contains(t.Value, "%") {
		w.unexpanded(t.String())
		w.problem(spfWhere(domain) + t.String() + " uses macros: what it authorizes depends on the message")
		return
	}
	target := t.Value
	if target == "" {
		target = domain
	}
	switch t.Mechanism {
	case "ip4", "ip6":
		if addr, err := netip.ParseAddr(t.Value); err == nil && authorize {
			w.addNet(addr, t)
		}
	case "include":
		w.follow(domain, t.String(), target, depth, authorize)
	case "a":
		w.addHost(domain, target, t, authorize)
	case "mx":
		w.expandMX(domain, target, t, authorize)
	case "ptr":
		w.unexpanded(t.String())
		w.problem(spfWhere(domain) + t.String() + " is deprecated and slow (RFC 7208 §5.5: SHOULD NOT be used)")
	case "exists":
		w.unexpanded(t.String())
	}
}

// follow walks an include or redirect target, guarding against loops and
// excessive depth. An include reached through a non-"+" qualifier still
// counts its lookups but authorizes nothing.
func (w *spfWalker) follow(domain, term, target string, depth int, authorize bool) string {
	lt := strings.ToLower(strings.TrimSuffix(target, "."))
	for _, p := range w.path {
		if p == lt {
			w.problem(spfWhere(domain) + term + " loops back to " + lt + " (" + strings.Join(append(w.path, lt), " → ") +
				"): receivers run into the lookup limit and return permerror")
			return ""
		}
	}
	if depth+1 > spfMaxDepth {
		w.problem(spfWhere(domain) + term + ": nested deeper than " + strconv.Itoa(spfMaxDepth) + "; not followed")
		return ""
	}
	return w.walk(lt, term, depth+1, authorize)
}

// fetch gets and parses the SPF record of domain, reporting what is wrong
// with it. It returns nil when there is no usable record.
func (w *spfWalker) fetch(domain, via string) *Record {
	ans := w.lookup("TXT", domain)
	where := spfWhere(domain)
	if via != "" {
		where = via + ": "
	}
	var recs []string
	for _, t := range ans.txt {
		if IsRecord(t) {
			recs = append(recs, t)
		}
	}
	if via == "" {
		w.a.Records = recs
	}
	switch {
	case ans.err != nil && !dnsauth.IsNotFound(ans.err):
		w.dnsProblem(where, ans.err)
		return nil
	case len(recs) == 0:
		if via != "" {
			w.void(ans)
			w.problem(where + domain + " has no SPF record: receivers return permerror (RFC 7208 §5.2, §6.1)")
		} else if ans.err != nil {
			w.problem(domain + " does not exist: SPF result none")
		} else {
			w.problem(domain + " publishes no SPF record: SPF result none")
		}
		return nil
	case len(recs) > 1:
		w.problem(where + domain + " publishes " + strconv.Itoa(len(recs)) + " SPF records: receivers return permerror (RFC 7208 §4.5)")
		return nil
	}
	rec, err := Parse(recs[0])
	if err != nil {
		w.problem(where + domain + ": " + err.Error() + ": receivers return permerror")
		return nil
	}
	if via == "" {
		w.a.Record = rec
	}
	return rec
}

// addHost adds the addresses of an a term (or of one MX host).
func (w *spfWalker) addHost(domain, host string, t Term, authorize bool) {
	ans := w.lookup("A/AAAA", host)
	if ans.err != nil && !dnsauth.IsNotFound(ans.err) {
		w.dnsProblem(spfWhere(domain)+t.String()+": ", ans.err)
		return
	}
	if t.Mechanism == "a" {
		w.void(ans)
	}
	if !authorize {
		return
	}
	for _, ip := range ans.ips {
		if addr, ok := netip.AddrFromSlice(ip.IP); ok {
			w.addNet(addr.Unmap(), t)
		}
	}
}

// expandMX adds the addresses of every exchange of an mx term; more than
// 10 exchanges is a permerror (RFC 7208 §4.6.4).
func (w *spfWalker) expandMX(domain, target string, t Term, authorize bool) {
	ans := w.lookup("MX", target)
	if ans.err != nil && !dnsauth.IsNotFound(ans.err) {
		w.dnsProblem(spfWhere(domain)+t.String()+": ", ans.err)
		return
	}
	w.void(ans)
	mxs := ans.mx
	if len(mxs) > 10 {
		w.problem(spfWhere(domain) + t.String() + ": " + target + " has " + strconv.Itoa(len(mxs)) +
			" MX records, over the limit of 10: receivers return permerror (RFC 7208 §4.6.4)")
		mxs = mxs[:10]
	}
	for _, mx := range mxs {
		w.addHost(domain, strings.TrimSuffix(mx.Host, "."), t, authorize)
	}
}

// lookup sends one query (once per walk) unless the walk hit its cap.
func (w *spfWalker) lookup(qtype, name string) spfAnswer {
	key := qtype + " " + strings.ToLower(name)
	if ans, ok := w.answers[key]; ok {
		return ans
	}
	if w.queries >= spfMaxQueries {
		if !w.stopped {
			w.stopped = true
			w.problem("analysis stopped after " + strconv.Itoa(spfMaxQueries) + " DNS queries; the counts are a lower bound")
		}
		return spfAnswer{err: &net.DNSError{Err: "query budget spent", Name: name, IsTemporary: true}}
	}
	w.queries++
	var ans spfAnswer
	switch qtype {
	case "TXT":
		ans.txt, ans.err = w.dns.LookupTXT(w.ctx, name)
		ans.void = len(ans.txt) == 0
	case "MX":
		ans.mx, ans.err = w.dns.LookupMX(w.ctx, name)
		ans.void = len(ans.mx) == 0
	default:
		ans.ips, ans.err = w.dns.LookupIPAddr(w.ctx, name)
		ans.void = len(ans.ips) == 0
	}
	if ans.err != nil && !dnsauth.IsNotFound(ans.err) {
		ans.void = false
	}
	w.answers[key] = ans
	return ans
}

func (w *spfWalker) void(ans spfAnswer) {
	if ans.void {
		w.a.VoidLookups++
	}
}

func (w *spfWalker) dnsProblem(where string, err error) {
	if w.stopped && strings.Contains(err.Error(), "query budget spent") {
		return
	}
	w.a.TempError = true
	w.problem(where + "DNS error: " + err.Error())
}

func (w *spfWalker) addNet(addr netip.Addr, t Term) {
	bits := t.Prefix6
	if addr.Is4() {
		bits = t.Prefix4
	}
	if p, err := addr.Prefix(bits); err == nil {
		w.nets[p] = true
	}
}

func (w *spfWalker) unexpanded(term string) {
	if !w.seen["u "+term] {
		w.seen["u "+term] = true
		w.a.Unexpanded = append(w.a.Unexpanded, term)
	}
}

func (w *spfWalker) problem(p string) {
	if !w.seen["p "+p] {
		w.seen["p "+p] = true
		w.a.Problems = append(w.a.Problems, p)
	}
}

// finish adds the limit problems and sorts the networks.
func (w *spfWalker) finish() {
	if w.a.Lookups > 10 {
		w.problem(strconv.Itoa(w.a.Lookups) + " DNS-querying terms, over the limit of 10: receivers return permerror (RFC 7208 §4.6.4)")
	}
	if w.a.VoidLookups > 2 {
		w.problem(strconv.Itoa(w.a.VoidLookups) + " lookups find nothing, over the limit of 2: receivers may return permerror (RFC 7208 §4.6.4)")
	}
	if w.a.All == "+all" {
		w.problem("the policy ends in +all: every address on the Internet passes")
	}
	for p := range w.nets {
		w.a.Networks = append(w.a.Networks, p)
	}
	// Sorted before the problems are named, so they come in the same
	// order every time (the set is a map).
	slices.SortFunc(w.a.Networks, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	for _, p := range w.a.Networks {
		if (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 16) {
			w.problem(p.String() + " authorizes a huge part of the address space")
		}
	}
}

// spfWhere prefixes a problem with the domain whose record has it.
func spfWhere(domain string) string { return domain + ": " }
