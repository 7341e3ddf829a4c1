// Package spf answers the SPF question (RFC 7208): may this client send
// mail for that domain? Check and CheckHelo evaluate it for one message;
// Parse checks the syntax of a record, and Analyze walks a domain's whole
// policy to list the networks it authorizes (the relay networks the engine
// learns, and the audit).
//
// How Check works:
//
// Check and CheckHelo wrap blitiri.com.ar/go/spf, which evaluates
// check_host() with the RFC limits (10 DNS-querying terms, 2 void lookups,
// 10 MX names, §4.6.4). Around it this package adds what a mail filter needs
// and the library leaves to its caller:
//
//   - the identity: the null sender becomes postmaster@<HELO> (§2.4), a
//     missing local part becomes "postmaster" (§4.3), and a domain that is
//     malformed, a single label or an address literal gives "none" (§4.3)
//     before any query is sent;
//   - a whole-record syntax check of every record fetched, so a broken term
//     is a permerror even when an earlier term matched (§4.6, §12);
//   - DNS errors that are not *net.DNSError (a cancelled context, say)
//     become temporary ones, so they give temperror and never permerror;
//   - a one-line reason and a readable step-by-step trace.
package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	blitiri "blitiri.com.ar/go/spf"
	"golang.org/x/net/idna"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Result is the outcome of one SPF evaluation (RFC 7208).
type Result struct {
	Result   dnsauth.Result
	Identity string     // "mailfrom" or "helo" (RFC 8601 smtp.mailfrom / smtp.helo)
	Domain   string     // the domain whose policy was evaluated
	Sender   string     // the <sender> of check_host(): "postmaster@<helo>" for the null sender
	IP       netip.Addr // the client evaluated
	Reason   string     // one line saying why, for logs and replies
	Trace    []string   // the evaluation step by step, for `spoofguard check`
}

// Check evaluates the MAIL FROM identity (RFC 7208 §2.4): for the null
// sender the identity is postmaster@<helo>. mailFrom may carry its angle
// brackets; "" and "<>" are the null sender.
func Check(ctx context.Context, dns dnsauth.DNS, ip netip.Addr, helo, mailFrom string) Result {
	sender, domain, why := spfMailFrom(helo, mailFrom)
	return spfCheck(ctx, dns, ip, "mailfrom", helo, sender, domain, why)
}

// CheckHelo evaluates the HELO identity (RFC 7208 §2.3); a HELO that is
// not a domain (address literal, single label) gives none with a reason.
// The engine does not call it yet; it is kept for the HELO rule, which
// RFC 7208 §2.3 recommends and which is built on it.
func CheckHelo(ctx context.Context, dns dnsauth.DNS, ip netip.Addr, helo string) Result {
	domain, why := spfDomain(helo)
	sender := ""
	if why == "" {
		sender = "postmaster@" + domain
	} else {
		why = "HELO " + why
	}
	return spfCheck(ctx, dns, ip, "helo", helo, sender, domain, why)
}

// spfMailFrom returns the <sender> and <domain> of check_host() for a MAIL
// FROM, or why there is nothing to check.
func spfMailFrom(helo, mailFrom string) (sender, domain, why string) {
	mf := strings.TrimSpace(mailFrom)
	if len(mf) >= 2 && mf[0] == '<' && mf[len(mf)-1] == '>' {
		mf = strings.TrimSpace(mf[1 : len(mf)-1])
	}
	if mf == "" {
		// RFC 7208 §2.4: the null reverse-path is checked as postmaster@<HELO>.
		domain, why = spfDomain(helo)
		if why != "" {
			return "", domain, "null sender and HELO " + why
		}
		return "postmaster@" + domain, domain, ""
	}
	at := strings.LastIndexByte(mf, '@')
	if at < 0 {
		return mf, "", fmt.Sprintf("MAIL FROM %q has no domain", mf)
	}
	local := mf[:at]
	domain, why = spfDomain(mf[at+1:])
	if why != "" {
		return mf, domain, "MAIL FROM " + why
	}
	switch {
	case local == "":
		local = "postmaster" // RFC 7208 §4.3
	case strings.IndexByte(local, '@') >= 0:
		// A quoted local part may hold "@"; the library takes the domain
		// after the first one, so hide the others from it.
		local = strings.ReplaceAll(local, "@", "%40")
	case domain == mf[at+1:]:
		return mf, domain, "" // as given: no copy
	}
	return local + "@" + domain, domain, ""
}

// spfDomain normalises a domain to check (trailing dot removed, U-labels
// turned into A-labels) and tells why it cannot be checked if so: RFC 7208
// §4.3 gives "none" for a malformed or single-label domain.
func spfDomain(name string) (domain, why string) {
	d := strings.TrimSuffix(strings.TrimSpace(name), ".")
	switch {
	case d == "":
		return "", "is empty"
	case d[0] == '[':
		return "", fmt.Sprintf("%q is an address literal, not a domain", name)
	}
	if spfLooksNumeric(d) {
		if _, err := netip.ParseAddr(d); err == nil {
			return "", fmt.Sprintf("%q is an IP address, not a domain", name)
		}
	}
	if !spfASCII(d) {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Sprintf("%q is not a valid internationalized domain", name)
		}
		d = a
	}
	if reason := spfDomainSyntax(d); reason != "" {
		return "", fmt.Sprintf("domain %q %s", name, reason)
	}
	return d, ""
}

// spfDomainSyntax checks the RFC 1035 limits and that the name has more
// than one label and a top label that is not all digits.
func spfDomainSyntax(d string) string {
	if len(d) > 253 {
		return "is longer than 253 characters"
	}
	labels := 0
	for rest := d; rest != ""; labels++ {
		label := rest
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			label, rest = rest[:i], rest[i+1:]
			if rest == "" {
				return "has an empty label"
			}
		} else {
			rest = ""
		}
		if reason := spfLabelSyntax(label); reason != "" {
			return reason
		}
		if rest == "" && labels > 0 && !spfTopLabel(label) {
			return "does not end in a valid top-level label"
		}
	}
	if labels < 2 {
		return "is a single label, not a fully qualified domain"
	}
	return ""
}

func spfLabelSyntax(label string) string {
	switch {
	case label == "":
		return "has an empty label"
	case len(label) > 63:
		return "has a label longer than 63 characters"
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !spfIsAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return fmt.Sprintf("has the character %q, not allowed in a host name", c)
		}
	}
	return ""
}

// spfLooksNumeric tells whether a name could be an IP address (it ends in
// a digit or holds a colon), sparing the parse for ordinary domains.
func spfLooksNumeric(d string) bool {
	last := d[len(d)-1]
	return (last >= '0' && last <= '9') || strings.IndexByte(d, ':') >= 0
}

func spfASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// spfCheck runs check_host() and describes the outcome.
func spfCheck(ctx context.Context, dns dnsauth.DNS, ip netip.Addr, identity, helo, sender, domain, why string) Result {
	res := Result{Identity: identity, Domain: strings.ToLower(domain), Sender: sender, IP: ip}
	if why == "" && !ip.IsValid() {
		why = "no client IP address to check"
	}
	if why != "" {
		res.Result, res.Reason = dnsauth.None, why
		res.Trace = []string{"not checked: " + why}
		return res
	}
	// An IPv4-mapped IPv6 client is an IPv4 client (RFC 7208 §5.6 matching
	// is per family); zones are local detail.
	ip = ip.Unmap().WithZone("")
	res.IP = ip
	tr := &spfTracer{lines: make([]string, 0, 16)}
	tr.stack = tr.stackBuf[:0]
	r, err := blitiri.CheckHostWithSender(net.IP(ip.AsSlice()), helo, sender,
		blitiri.WithResolver(spfResolver{dns}),
		blitiri.WithContext(ctx),
		blitiri.WithTraceFunc(tr.trace))
	res.Result = spfResultOf(r)
	res.Trace = tr.lines
	res.Reason = tr.reason(res, err)
	return res
}

// spfResultOf maps the library's result to ours. The library only returns
// the seven RFC 7208 §2.6 results; anything else would be a library bug and
// is reported as permerror rather than passed on.
func spfResultOf(r blitiri.Result) dnsauth.Result {
	switch r {
	case blitiri.None:
		return dnsauth.None
	case blitiri.Neutral:
		return dnsauth.Neutral
	case blitiri.Pass:
		return dnsauth.Pass
	case blitiri.Fail:
		return dnsauth.Fail
	case blitiri.SoftFail:
		return dnsauth.SoftFail
	case blitiri.TempError:
		return dnsauth.TempError
	}
	return dnsauth.PermError
}

// spfResolver is the DNS the library sees: every SPF record it fetches is
// syntax-checked first, and errors keep the *net.DNSError shape the library
// classifies by.
type spfResolver struct{ dns dnsauth.DNS }

// LookupTXT hands back the TXT strings, unless the one SPF record among
// them breaks the grammar: then the error makes the library answer
// permerror at whatever depth (top, include, redirect) it was fetched.
func (r spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := r.dns.LookupTXT(ctx, name)
	if err != nil {
		return nil, spfDNSError(err, name)
	}
	var rec string
	n := 0
	for _, t := range txts {
		if IsRecord(t) {
			rec, n = t, n+1
		}
	}
	if n == 1 {
		if err := spfCheckRecord(rec); err != nil {
			return nil, err
		}
	}
	return txts, nil
}

func (r spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mx, err := r.dns.LookupMX(ctx, name)
	return mx, spfDNSError(err, name)
}

func (r spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := r.dns.LookupIPAddr(ctx, host)
	return ips, spfDNSError(err, host)
}

func (r spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	names, err := r.dns.LookupAddr(ctx, addr)
	return names, spfDNSError(err, addr)
}

// spfDNSError passes *net.DNSError through and turns any other failure
// (a cancelled context, a resolver bug) into a temporary DNS error: the
// library would otherwise call it permerror, a permanent verdict on the
// sender's domain for what is our own trouble.
func spfDNSError(err error, name string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*net.DNSError); ok {
		return err
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
}

// spfTracer turns the library's trace calls into readable lines and keeps
// what the reason needs. Each check_host() call starts with a "check" line
// and ends with exactly one line giving its result (a record error, an
// empty record, a matching or failing term, a redirect, or the neutral
// fallback), so a stack of domains tells which record every line is about.
type spfTracer struct {
	lines    []string
	stack    []string // domains of the check_host() calls in progress, outermost first
	stackBuf [8]string
	term     string // the term that decided the outermost record ("" if none)
	notFound bool   // the outermost domain does not exist
	voids    int    // void lookups so far (RFC 7208 §4.6.4)
}

// The library's trace formats this file understands (v1.6.0). Others are
// internals (mask and macro parsing steps) and are left out.
const (
	spfTrCheck      = "check %q %d %d"
	spfTrRecord     = "dns record %q"
	spfTrNotFound   = "dns domain not found: %v"
	spfTrTemp       = "dns temp error: %v"
	spfTrMultiple   = "multiple dns records"
	spfTrPerm       = "dns perm error: %v"
	spfTrRedirects  = "too many redirects"
	spfTrAll        = "all: %v"
	spfTrTerm       = "%q %v, %v"
	spfTrRedirect   = "%q: %v, %v"
	spfTrUnknown    = "unknown field, permerror"
	spfTrNeutral    = "fallback to neutral"
	spfTrLimit      = "lookup limit reached"
	spfTrVoid       = "void lookup: no answers"
	spfTrVoidNX     = "void lookup: nxdomain"
	spfTrVoidLimit  = "void lookup limit reached"
	spfTrMacro      = "macro expanded %q to %q"
	spfTrMXIPs      = "mx ips: %v"
	spfTrPTRError   = "ptr reverse lookup error, no match: %v"
	spfTrMacroSlash = "macro contains /"
	spfTrMacroEnd   = "macro not terminated"
)

func (t *spfTracer) trace(f string, a ...any) {
	switch f {
	case spfTrCheck:
		t.stack = append(t.stack, spfArg(a, 0))
	case spfTrRecord:
		if spfArg(a, 0) == "" {
			t.end("", "no SPF record")
			return
		}
		t.line("record " + strconv.Quote(spfArg(a, 0)))
	case spfTrNotFound:
		t.notFound = len(t.stack) == 1
		t.end("", "no such domain")
	case spfTrTemp:
		t.end("", "temporary DNS error: "+spfArg(a, 0))
	case spfTrMultiple:
		t.end("", "more than one SPF record: permerror (RFC 7208 §4.5)")
	case spfTrPerm:
		t.end("", spfArg(a, 0)+": permerror")
	case spfTrRedirects:
		t.end("", "more than one redirect=: permerror (RFC 7208 §6)")
	case spfTrAll:
		term := spfQualified("all", spfArg(a, 0))
		t.end(term, term+" → "+spfArg(a, 0))
	case spfTrTerm:
		t.endTerm(spfQualified(spfArg(a, 0), spfArg(a, 1)), spfArg(a, 1), a)
	case spfTrRedirect:
		t.endTerm(spfArg(a, 0), spfArg(a, 1), a) // modifiers take no qualifier
	case spfTrUnknown:
		t.end("", "unknown mechanism: permerror")
	case spfTrNeutral:
		t.end("", "no term matched: neutral (RFC 7208 §4.7)")
	case spfTrLimit:
		t.line("more than 10 DNS-querying terms (RFC 7208 §4.6.4)")
	case spfTrVoid, spfTrVoidNX:
		t.voids++
		t.line(fmt.Sprintf("void lookup %d (2 allowed): the name has no such records", t.voids))
	case spfTrVoidLimit:
		t.line("more than 2 void lookups (RFC 7208 §4.6.4)")
	case spfTrMacro:
		t.line(fmt.Sprintf("macro %q expands to %q", spfArg(a, 0), spfArg(a, 1)))
	case spfTrMXIPs:
		t.line("MX addresses: " + spfArg(a, 0))
	case spfTrPTRError:
		t.line("ptr: reverse lookup failed, no match: " + spfArg(a, 0))
	case spfTrMacroSlash, spfTrMacroEnd:
		t.line(f)
	}
}

// endTerm handles the line that ends a record with a term's outcome.
func (t *spfTracer) endTerm(term, result string, a []any) {
	line := term + " → " + result
	if err, ok := spfErrArg(a, 2); ok && !spfMatchErr(err) {
		line += " (" + err.Error() + ")"
	}
	t.end(term, line)
}

// end writes the line that closes the current record and pops it.
func (t *spfTracer) end(term, text string) {
	t.line(text)
	if len(t.stack) == 1 {
		t.term = term
	}
	if len(t.stack) > 0 {
		t.stack = t.stack[:len(t.stack)-1]
	}
}

// spfIndent indents trace lines by include depth (at most 11 deep: the
// lookup limit stops deeper nesting).
const spfIndent = "                        "

// line adds a line about the record being evaluated, indented by depth.
func (t *spfTracer) line(text string) {
	depth := len(t.stack)
	if depth == 0 {
		t.lines = append(t.lines, text)
		return
	}
	indent := spfIndent[:min(2*(depth-1), len(spfIndent))]
	t.lines = append(t.lines, indent+t.stack[depth-1]+": "+text)
}

// reason is the one line for logs and replies.
func (t *spfTracer) reason(res Result, err error) string {
	ip, d, term := res.IP.String(), res.Domain, ""
	if t.term != "" {
		term = " (" + t.term + ")"
	}
	switch res.Result {
	case dnsauth.Pass:
		return ip + " is permitted by " + d + "'s SPF record" + term
	case dnsauth.Fail:
		return ip + " is not permitted by " + d + "'s SPF record" + term
	case dnsauth.SoftFail:
		return ip + " is not permitted by " + d + "'s SPF record, which asks for a soft fail" + term
	case dnsauth.Neutral:
		if term == "" {
			return "no term of " + d + "'s SPF record matches " + ip + " (neutral by default)"
		}
		return d + "'s SPF record makes no assertion about " + ip + term
	case dnsauth.None:
		if t.notFound {
			return d + " does not exist"
		}
		return d + " publishes no SPF record"
	case dnsauth.TempError:
		return "temporary DNS error evaluating " + d + "'s SPF record: " + spfErrText(err)
	}
	return d + "'s SPF record cannot be evaluated: " + spfErrText(err) + term
}

// spfErrText explains a library error in the RFC's words.
func spfErrText(err error) string {
	switch {
	case err == nil:
		return "unknown error"
	case errors.Is(err, blitiri.ErrLookupLimitReached):
		return "more than 10 DNS-querying terms (RFC 7208 §4.6.4)"
	case errors.Is(err, blitiri.ErrVoidLookupLimitReached):
		return "more than 2 lookups found nothing (RFC 7208 §4.6.4)"
	case errors.Is(err, blitiri.ErrMultipleRecords):
		return "more than one SPF record (RFC 7208 §4.5)"
	case errors.Is(err, blitiri.ErrTooManyMXRecords):
		return "more than 10 MX names (RFC 7208 §4.6.4)"
	case errors.Is(err, blitiri.ErrNoResult):
		return "an included or redirected domain has no SPF record (RFC 7208 §5.2, §6.1)"
	case errors.Is(err, blitiri.ErrUnknownField):
		return "unknown mechanism"
	}
	return err.Error()
}

// spfQualified rebuilds the written term: the library traces a mechanism
// without its qualifier, which the term's result tells back.
func spfQualified(field, result string) string {
	switch dnsauth.Result(result) {
	case dnsauth.Fail:
		return "-" + field
	case dnsauth.SoftFail:
		return "~" + field
	case dnsauth.Neutral:
		return "?" + field
	}
	return field
}

func spfMatchErr(err error) bool {
	switch err {
	case blitiri.ErrMatchedAll, blitiri.ErrMatchedA, blitiri.ErrMatchedIP, blitiri.ErrMatchedMX,
		blitiri.ErrMatchedPTR, blitiri.ErrMatchedExists:
		return true
	}
	return false
}

func spfArg(a []any, i int) string {
	if i >= len(a) {
		return ""
	}
	switch v := a[i].(type) {
	case string:
		return v
	case blitiri.Result:
		return string(v)
	case fmt.Stringer:
		return v.String()
	case error:
		return v.Error()
	}
	return fmt.Sprint(a[i])
}

func spfErrArg(a []any, i int) (error, bool) {
	if i >= len(a) || a[i] == nil {
		return nil, false
	}
	err, ok := a[i].(error)
	return err, ok
}
