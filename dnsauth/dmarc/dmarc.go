package dmarc

// DMARC (RFC 7489) tells whether the author domain of a message was
// authenticated: an SPF pass for the RFC5321.MailFrom domain or a DKIM
// pass whose d= is aligned with the RFC5322.From domain, and which policy
// the domain owner asks for when neither is. This file holds the record
// parser, policy discovery, identifier alignment and the final result.
//
// Discovery follows RFC 7489 with the DMARCbis additions
// (draft-ietf-dmarc-dmarcbis-41): the np=, psd= and t= tags and the DNS
// tree walk (§4.10). The two discovery methods are combined like this:
//
//  1. The tree walk runs first, always: it queries _dmarc.<From domain>
//     and then the parent names (at most 8 queries; names of 8 labels or
//     more jump to their last 7 labels), stopping early only at a record
//     with psd=n, or with psd=y above the From domain. RFC 7489's two
//     queries (the From domain, then its PSL organizational domain) are a
//     subset of the walk's, because an organizational domain never has
//     more than 7 labels. The walk goes on past a record it finds: a
//     psd= tag higher up changes the organizational domain.
//  2. A record at the From domain itself applies, with p=. Both agree.
//  3. When the walk met a psd= tag, the publisher has told us where the
//     organizational boundary is, and DMARCbis decides: the
//     organizational domain is chosen by §4.10.2 (psd=n marks it,
//     psd=y marks the level above it) and both policy discovery and
//     relaxed alignment use it. The PSL is not consulted.
//  4. Otherwise RFC 7489 §6.6.3 decides: the record of the PSL
//     organizational domain applies (sp=/np=/p=), and relaxed alignment
//     compares PSL organizational domains (§3.2).
//  5. When the PSL organizational domain has no record either, the walk
//     fills the gap: a record between the From domain and the PSL
//     organizational domain (e.g. _dmarc.mail.example.com for
//     a.mail.example.com) applies as DMARCbis would apply it. Records above
//     the PSL organizational domain without psd=y are not applied: RFC
//     7489 never looks there and DMARCbis requires a public suffix
//     operator to say psd=y.
//
// Where the two disagree, and what is done here by default:
//   - Several DMARC records at one name: RFC 7489 §6.6.3 ends discovery
//     and applies no DMARC (result none); DMARCbis discards them and walks
//     on. The RFC is followed at the From domain and at the PSL
//     organizational domain; elsewhere on the walk the names are skipped.
//   - A record only at a subdomain (my.example.org publishes, example.org
//     does not): for RFC 7489 my.example.org and example.org are aligned
//     (same PSL organizational domain); for DMARCbis they are not. The
//     PSL is followed unless a psd= tag was met (step 3).
//   - No record anywhere: the organizational domain reported is the PSL's
//     (RFC 7489); DMARCbis makes it the From domain itself.
//   - pct=: removed by DMARCbis, applied here (RFC 7489 §6.6.4). t=y is
//     applied too, as a pct of 0.
//
// Options.DMARCbis switches to the draft throughout: alignment by
// tree walk, pct= ignored, several records skipped everywhere.
//
// A temporary DNS failure anywhere in discovery or alignment makes the
// result temperror, never fail: a policy must not be applied on a guess.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	spfauth "github.com/spoofguard/spoofguard/dnsauth/spf"
	"github.com/spoofguard/spoofguard/header"
)

// Result is the outcome of DMARC for one RFC5322.From domain.
type Result struct {
	Result       dnsauth.Result // pass, fail, none, temperror, permerror
	FromDomain   string         // the author domain evaluated
	OrgDomain    string         // its organizational domain
	RecordDomain string         // the name whose _dmarc record applied ("" when none)
	Record       string         // the record text that applied
	Policy       string         // the policy for this message: "none", "quarantine" or "reject"
	PolicyTag    string         // where Policy came from: "p", "sp" or "np"
	Sampled      bool           // false when pct sampling exempted this message from Policy
	SPFAligned   bool
	DKIMAligned  bool
	AlignedDKIM  string // d= of the signature that aligned, if any
	Reason       string // one line saying why
}

// Record is a parsed DMARC policy record (RFC 7489 §6.3, plus the
// DMARCbis tags np, psd and t).
type Record struct {
	Policy            string // p: "none", "quarantine" or "reject"
	SubdomainPolicy   string // sp, "" when absent
	NonexistentPolicy string // np (DMARCbis), "" when absent
	Percent           int    // pct, 100 when absent or invalid
	ADKIM, ASPF       string // "r" (default) or "s"
	PSD               string // psd (DMARCbis): "y", "n", "u" or "" when absent or invalid
	Testing           bool   // t=y (DMARCbis)
	RUA, RUF          []string
	FO                string // fo, "0" when absent or invalid
	Raw               string // the record text
	// Repaired is set when p=, sp= or np= was missing or invalid and a
	// valid rua= made the record count as p=none (RFC 7489 §6.6.3); it
	// says what was wrong.
	Repaired string
}

// RecordError is a DMARC record that cannot be used: it is not a
// DMARC record at all, or its policy is missing or invalid and no rua=
// rescues it. DMARC yields permerror for it.
type RecordError struct {
	Domain string // the domain whose _dmarc record it is, when known
	Reason string
}

func (e *RecordError) Error() string {
	if e.Domain == "" {
		return "dmarc: " + e.Reason
	}
	return "dmarc: _dmarc." + e.Domain + ": " + e.Reason
}

// ErrMultipleRecords is returned (wrapped) by Lookup when a name
// publishes more than one DMARC record. RFC 7489 §6.6.3 then applies no
// DMARC at all, so the result is none, not permerror.
var ErrMultipleRecords = errors.New("dmarc: more than one DMARC record")

// Parse parses the text of a DMARC TXT record. Unknown tags,
// and invalid values of tags other than p, sp and np, are ignored in
// favour of the defaults (RFC 7489 §6.3). A missing or invalid p=, or an
// invalid sp= or np=, is an error unless rua= holds a valid URI; then the
// record counts as p=none (§6.6.3) and Repaired says why.
func Parse(txt string) (*Record, error) {
	rec, err := dmarcParse(txt)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// dmarcParse is Parse, except that for a DMARC record whose
// policy is unusable it returns the record as far as it was read together
// with the error, so the tree walk can still see its psd= tag.
func dmarcParse(txt string) (*Record, error) {
	rest, ok := dmarcVersion(txt)
	if !ok {
		return nil, &RecordError{Reason: "not a DMARC record: it must start with v=DMARC1"}
	}
	rec := &Record{Percent: 100, ADKIM: "r", ASPF: "r", FO: "0", Raw: txt}
	tags := map[string]string{}
	dup := map[string]bool{}
	for _, part := range strings.Split(rest, ";") {
		name, value, ok := strings.Cut(part, "=")
		name = strings.ToLower(dmarcTrim(name))
		if !ok || !dmarcIsTagName(name) {
			continue // a syntax error in the remainder is ignored (§6.3)
		}
		if _, seen := tags[name]; seen {
			dup[name] = true
		}
		tags[name] = dmarcTrim(value)
	}
	rec.fill(tags, dup)
	if problem := rec.policyProblem(tags, dup); problem != "" {
		if !dmarcAnyValidURI(rec.RUA) {
			return rec, &RecordError{Reason: problem}
		}
		rec.Policy, rec.SubdomainPolicy, rec.NonexistentPolicy = "none", "", ""
		rec.Repaired = problem + "; rua= is valid, so the record counts as p=none (RFC 7489 §6.6.3)"
	}
	return rec, nil
}

// dmarcVersion checks that txt starts with the v=DMARC1 tag (RFC 7489
// §6.4: "v" first, value exactly "DMARC1") and returns what follows it.
func dmarcVersion(txt string) (string, bool) {
	first, rest, _ := strings.Cut(txt, ";")
	name, value, ok := strings.Cut(first, "=")
	if !ok || !strings.EqualFold(dmarcTrim(name), "v") || dmarcTrim(value) != "DMARC1" {
		return "", false
	}
	return rest, true
}

// dmarcIsRecord reports whether a TXT string is a DMARC record at all;
// the others at _dmarc names are discarded (RFC 7489 §6.6.3 step 2).
func dmarcIsRecord(txt string) bool {
	_, ok := dmarcVersion(txt)
	return ok
}

func dmarcTrim(s string) string { return strings.Trim(s, " \t\r\n") }

// dmarcIsTagName: ALPHA *(ALPHA / DIGIT / "_"), the DKIM tag-name syntax
// DMARC records follow (RFC 6376 §3.2).
func dmarcIsTagName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// fill sets every field but the policies' validity from the tags; an
// invalid or repeated value leaves the default.
func (rec *Record) fill(tags map[string]string, dup map[string]bool) {
	one := func(name string) (string, bool) {
		v, ok := tags[name]
		return strings.ToLower(v), ok && !dup[name]
	}
	rec.Policy, _ = dmarcPolicyValue(one("p"))
	rec.SubdomainPolicy, _ = dmarcPolicyValue(one("sp"))
	rec.NonexistentPolicy, _ = dmarcPolicyValue(one("np"))
	if v, ok := one("pct"); ok {
		if n, err := strconv.Atoi(v); err == nil && len(v) <= 3 && n >= 0 && n <= 100 && v[0] != '+' {
			rec.Percent = n
		}
	}
	if v, ok := one("adkim"); ok && (v == "r" || v == "s") {
		rec.ADKIM = v
	}
	if v, ok := one("aspf"); ok && (v == "r" || v == "s") {
		rec.ASPF = v
	}
	if v, ok := one("psd"); ok && (v == "y" || v == "n" || v == "u") {
		rec.PSD = v
	}
	if v, ok := one("t"); ok {
		rec.Testing = v == "y"
	}
	if v, ok := one("fo"); ok && dmarcValidFO(v) {
		rec.FO = v
	}
	rec.RUA = dmarcURIList(tags["rua"])
	rec.RUF = dmarcURIList(tags["ruf"])
}

// policyProblem says what is wrong with p=, sp= and np=, or "".
func (rec *Record) policyProblem(tags map[string]string, dup map[string]bool) string {
	for _, name := range []string{"p", "sp", "np"} {
		v, present := tags[name]
		switch {
		case dup[name]:
			return name + "= appears more than once"
		case !present && name == "p":
			return "no p= tag"
		case !present:
			continue
		}
		if _, ok := dmarcPolicyValue(strings.ToLower(v), true); !ok {
			return fmt.Sprintf("%s=%q is not none, quarantine or reject", name, v)
		}
	}
	return ""
}

// dmarcPolicyValue validates a p/sp/np value; "" when absent or invalid.
func dmarcPolicyValue(v string, present bool) (string, bool) {
	if !present {
		return "", false
	}
	switch v {
	case "none", "quarantine", "reject":
		return v, true
	}
	return "", false
}

// dmarcValidFO: "0", "1", "d", "s" joined by colons (RFC 7489 §6.3 fo).
func dmarcValidFO(v string) bool {
	for _, o := range strings.Split(v, ":") {
		switch dmarcTrim(o) {
		case "0", "1", "d", "s":
		default:
			return false
		}
	}
	return true
}

// dmarcURIList splits a rua/ruf value on commas (RFC 7489 §6.4).
func dmarcURIList(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		if u = dmarcTrim(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// dmarcAnyValidURI reports whether one of the URIs is syntactically valid
// (an absolute URI, after dropping the "!size" limit of RFC 7489 §6.2).
func dmarcAnyValidURI(uris []string) bool {
	for _, u := range uris {
		if i := strings.LastIndexByte(u, '!'); i > 0 {
			u = u[:i]
		}
		if p, err := url.Parse(u); err == nil && p.Scheme != "" && (p.Opaque != "" || p.Host != "") {
			return true
		}
	}
	return false
}

// Input is what DMARC needs about one message.
type Input struct {
	FromDomain string          // the RFC5322.From domain
	SPF        *spfauth.Result // the MAIL FROM identity (RFC 7208 §2.4: postmaster@HELO for the null path); nil = none
	DKIM       []dkim.Result   // every signature's result
}

// Options tunes Check.
type Options struct {
	// Rand returns 0..99 for pct= sampling; nil uses math/rand/v2.
	Rand func() int
	// DMARCbis follows draft-ietf-dmarc-dmarcbis-41 throughout: relaxed
	// alignment compares tree-walk organizational domains, pct= is
	// ignored, and several records at one name are skipped everywhere.
	// The default is RFC 7489 with the DMARCbis additions (see the top of
	// this file).
	DMARCbis bool
}

// Lookup discovers the DMARC record that applies to mail from
// domain, as Check does by default, and returns it with the domain
// it was found at. No record: (nil, "", nil). A temporary DNS failure: a
// *net.DNSError for which IsTemporary holds (temperror). An unusable
// record: a *RecordError (permerror). Several records where RFC 7489
// §6.6.3 stops: an error wrapping ErrMultipleRecords (none).
func Lookup(ctx context.Context, dns dnsauth.DNS, domain string) (rec *Record, recordDomain string, err error) {
	d := dmarcDiscover(ctx, dns, header.NormalizeDomain(domain), false)
	switch {
	case d.tempErr != nil:
		return nil, "", d.tempErr
	case d.multiple != "":
		return nil, d.multiple, fmt.Errorf("%w at _dmarc.%s", ErrMultipleRecords, d.multiple)
	case d.source == nil:
		return nil, "", nil
	case d.source.err != nil:
		return nil, d.source.name, d.source.err
	}
	return d.source.rec, d.source.name, nil
}

// dmarcFound is what one _dmarc name held: count DMARC records (other
// TXT strings discarded) and, when there was exactly one, the record and
// its parse error.
type dmarcFound struct {
	name  string
	count int
	rec   *Record
	err   error
}

// usable reports whether the name held exactly one DMARC record.
func (f *dmarcFound) usable() bool { return f != nil && f.count == 1 }

// dmarcWalk is the outcome of one DNS tree walk (DMARCbis §4.10).
type dmarcWalk struct {
	start   string
	queried []string               // _dmarc names asked, in order
	at      map[string]*dmarcFound // by domain, for every name asked
	found   []*dmarcFound          // names with a single record, longest first
	psd     bool                   // a single record with psd=y or psd=n was met
	tempErr error
}

// dmarcMaxLabels is draft-41's cap: a name of 8 labels or more is cut to
// its last 7 after the first query, so a walk makes at most 8 queries.
const dmarcMaxLabels = 8

// dmarcWalkTargets lists the names a full walk from start queries: start,
// then (x >= 8 labels) its last 7 labels or (x < 8) start minus its first
// label, then one label less each time down to the top-level domain.
func dmarcWalkTargets(start string) []string {
	labels := strings.Split(start, ".")
	targets := []string{start}
	n := len(labels) - 1
	if len(labels) >= dmarcMaxLabels {
		n = dmarcMaxLabels - 1
	}
	for ; n >= 1; n-- {
		targets = append(targets, strings.Join(labels[len(labels)-n:], "."))
	}
	return targets
}

// dmarcTreeWalk performs the DNS tree walk of DMARCbis §4.10 from start.
// It stops at a temporary failure, or at a single record carrying psd=
// (psd=n only, at the start itself: steps 2 and 7).
func dmarcTreeWalk(ctx context.Context, dns dnsauth.DNS, start string) *dmarcWalk {
	w := &dmarcWalk{start: start, at: map[string]*dmarcFound{}}
	for i, name := range dmarcWalkTargets(start) {
		f, err := dmarcQuery(ctx, dns, name)
		w.queried = append(w.queried, "_dmarc."+name)
		if err != nil {
			w.tempErr = err
			return w
		}
		w.at[name] = f
		if !f.usable() {
			continue
		}
		w.found = append(w.found, f)
		if f.rec.PSD == "n" || f.rec.PSD == "y" && i > 0 {
			w.psd = true
			return w
		}
		if f.rec.PSD == "y" {
			w.psd = true
		}
	}
	return w
}

// dmarcQuery reads the DMARC records at _dmarc.<name>. A name that cannot
// be queried (too long, empty label) holds nothing. Any failure other
// than NXDOMAIN is temporary: it must never become a DMARC fail.
func dmarcQuery(ctx context.Context, dns dnsauth.DNS, name string) (*dmarcFound, error) {
	f := &dmarcFound{name: name}
	qname := "_dmarc." + name
	if !dmarcQueryable(qname) {
		return f, nil
	}
	txts, err := dns.LookupTXT(ctx, qname)
	if err != nil && !dnsauth.IsNotFound(err) {
		return nil, dmarcTemporary(qname, err)
	}
	var text string
	for _, t := range txts {
		if dmarcIsRecord(t) {
			f.count++
			text = t
		}
	}
	if f.count == 1 {
		f.rec, f.err = dmarcParse(text)
		if re, ok := f.err.(*RecordError); ok {
			re.Domain = name
		}
	}
	return f, nil
}

// dmarcTemporary returns err as the bare *net.DNSError callers test with
// IsTemporary, whatever the resolver gave.
func dmarcTemporary(name string, err error) *net.DNSError {
	if de, ok := err.(*net.DNSError); ok && dnsauth.IsTemporary(de) {
		return de
	}
	return dnsauth.TemporaryError(name, err.Error(), false)
}

// dmarcQueryable reports whether name can be sent as a DNS query: at most
// 253 octets, labels of 1 to 63 octets, printable ASCII without the bytes
// that need escaping in presentation format.
func dmarcQueryable(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"()[\];@`, c) >= 0 {
				return false
			}
		}
	}
	return true
}

// bisOrg selects the organizational domain from the walk (DMARCbis
// §4.10.2): the first record, longest name first, with psd=n is it; one
// with psd=y (not at the start) puts it one label below; otherwise the
// record with the fewest labels; with no record at all, the start.
func (w *dmarcWalk) bisOrg() string {
	for _, f := range w.found {
		switch {
		case f.rec.PSD == "n":
			return f.name
		case f.rec.PSD == "y" && f.name != w.start:
			return dmarcChildOf(w.start, f.name)
		}
	}
	if len(w.found) > 0 {
		return w.found[len(w.found)-1].name
	}
	return w.start
}

// psdRecord returns the record with psd=y that stopped the walk, if any.
func (w *dmarcWalk) psdRecord() *dmarcFound {
	for _, f := range w.found {
		if f.rec.PSD == "y" && f.name != w.start {
			return f
		}
	}
	return nil
}

// dmarcChildOf returns the name one label longer than ancestor on the way
// down to start.
func dmarcChildOf(start, ancestor string) string {
	prefix := strings.TrimSuffix(start, "."+ancestor)
	if i := strings.LastIndexByte(prefix, '.'); i >= 0 {
		return prefix[i+1:] + "." + ancestor
	}
	return prefix + "." + ancestor
}

// dmarcDiscovery is the outcome of policy discovery for one From domain.
type dmarcDiscovery struct {
	from     string
	walk     *dmarcWalk
	source   *dmarcFound // the record that applies; nil for none
	org      string      // the From domain's organizational domain
	bisRules bool        // DMARCbis chose source and org (psd= met, or DMARCbis mode)
	how      string      // how source was chosen, for Reason
	multiple string      // RFC 7489 stopped at several records at this name
	count    int         // how many records it held
	tempErr  error
}

// dmarcDiscover finds the record that applies to mail from the
// (normalised) domain from; see the top of this file for the rules.
func dmarcDiscover(ctx context.Context, dns dnsauth.DNS, from string, bis bool) *dmarcDiscovery {
	d := &dmarcDiscovery{from: from, org: OrgDomain(from)}
	d.walk = dmarcTreeWalk(ctx, dns, from)
	if d.tempErr = d.walk.tempErr; d.tempErr != nil {
		return d
	}
	own := d.walk.at[from]
	d.bisRules = bis || d.walk.psd
	if d.bisRules {
		d.org = d.walk.bisOrg()
	}
	switch {
	case own.usable():
		d.source, d.how = own, "the author domain's own record"
	case own != nil && own.count > 1 && !bis:
		d.multiple, d.count = from, own.count
	case d.bisRules:
		d.discoverBis()
	default:
		d.discover7489(ctx, dns)
	}
	return d
}

// discoverBis applies DMARCbis §4.10.1: the organizational domain's
// record, else the public suffix domain's.
func (d *dmarcDiscovery) discoverBis() {
	if f := d.walk.at[d.org]; d.org != d.from && f.usable() {
		d.source, d.how = f, "the organizational domain's record (DMARCbis tree walk)"
		return
	}
	if f := d.walk.psdRecord(); f != nil {
		d.source, d.how = f, "the public suffix domain's record (psd=y)"
	}
}

// discover7489 applies RFC 7489 §6.6.3 with the PSL organizational
// domain, then fills the gap from the walk (rule 5 at the top).
func (d *dmarcDiscovery) discover7489(ctx context.Context, dns dnsauth.DNS) {
	if d.org == d.from {
		return
	}
	f, ok := d.walk.at[d.org]
	if !ok { // not on the walk's path; cannot happen for real PSL names
		var err error
		if f, err = dmarcQuery(ctx, dns, d.org); err != nil {
			d.tempErr = err
			return
		}
	}
	switch {
	case f.usable():
		d.source, d.how = f, "the organizational domain's record"
		return
	case f.count > 1:
		d.multiple, d.count = d.org, f.count
		return
	}
	for i := len(d.walk.found) - 1; i >= 0; i-- {
		if f := d.walk.found[i]; strings.HasSuffix(f.name, "."+d.org) {
			d.source, d.how = f, "the record nearest the organizational domain, which has none (DMARCbis tree walk)"
			return
		}
	}
}

// Check evaluates DMARC for one author domain: discovery, identifier
// alignment of the SPF and DKIM results given, and the policy that
// applies when they do not align. Alignment is reported even when the
// domain publishes no record, because spoofguard's own-domain rule needs
// it whatever the domain publishes (relaxed alignment is assumed then).
//
// Policy and PolicyTag are set for pass and fail. On fail they are what
// to apply, after pct= and t=; on pass they are the published policy, for
// reports (an np= is not considered then: the existence of the author
// domain is only looked up when a failing message needs it).
func Check(ctx context.Context, dns dnsauth.DNS, in Input, opts Options) Result {
	c := &dmarcCheck{ctx: ctx, dns: dns, in: in, opts: opts, walks: map[string]*dmarcWalk{}}
	return c.run()
}

// dmarcCheck carries one evaluation; walks caches the tree walks made for
// DMARCbis alignment so each identifier is walked once.
type dmarcCheck struct {
	ctx   context.Context
	dns   dnsauth.DNS
	in    Input
	opts  Options
	disc  *dmarcDiscovery
	walks map[string]*dmarcWalk
	res   Result
}

func (c *dmarcCheck) run() Result {
	from := header.NormalizeDomain(c.in.FromDomain)
	c.res.FromDomain = from
	c.res.OrgDomain = OrgDomain(from)
	if from == "" || !dmarcQueryable("_dmarc."+from) {
		// PSL alignment only: no DNS is asked for such a name.
		return c.withoutPolicy(dnsauth.None, fmt.Sprintf("author domain %q is not a DNS name", c.in.FromDomain))
	}
	c.disc = dmarcDiscover(c.ctx, c.dns, from, c.opts.DMARCbis)
	c.res.OrgDomain = c.disc.org
	switch d := c.disc; {
	case d.tempErr != nil:
		c.bisUnusable()
		return c.withoutPolicy(dnsauth.TempError, "temporary DNS failure during policy discovery: "+d.tempErr.Error())
	case d.multiple != "":
		return c.withoutPolicy(dnsauth.None, fmt.Sprintf("%d DMARC records at _dmarc.%s: none applies (RFC 7489 §6.6.3)", d.count, d.multiple))
	case d.source == nil:
		return c.withoutPolicy(dnsauth.None, "no DMARC record for "+from)
	}
	src := c.disc.source
	c.res.RecordDomain, c.res.Record = src.name, src.rec.Raw
	if src.err != nil {
		return c.withoutPolicy(dnsauth.PermError, src.err.Error())
	}
	return c.evaluate(src.rec)
}

// withoutPolicy ends an evaluation that has no usable record: alignment
// is still computed, relaxed, for the own-domain rule; a temporary failure
// while doing so makes the result temperror.
func (c *dmarcCheck) withoutPolicy(r dnsauth.Result, reason string) Result {
	if _, err := c.alignAll("r", "r"); err != nil && !c.res.SPFAligned && !c.res.DKIMAligned {
		return c.finish(dnsauth.TempError, reason+"; temporary DNS failure while checking alignment: "+err.Error())
	}
	return c.finish(r, reason)
}

func (c *dmarcCheck) finish(r dnsauth.Result, reason string) Result {
	c.res.Result, c.res.Reason = r, reason
	return c.res
}

// bisUnusable drops DMARCbis alignment after a failed walk: with no walk
// to go by, alignment falls back to the PSL.
func (c *dmarcCheck) bisUnusable() {
	c.disc.bisRules = false
	c.disc.org = OrgDomain(c.disc.from)
	c.res.OrgDomain = c.disc.org
}

// evaluate decides pass or fail against a usable record.
func (c *dmarcCheck) evaluate(rec *Record) Result {
	tempAligned, err := c.alignAll(rec.ADKIM, rec.ASPF)
	modes := fmt.Sprintf("adkim=%s aspf=%s", rec.ADKIM, rec.ASPF)
	if c.res.DKIMAligned || c.res.SPFAligned {
		c.res.Policy, c.res.PolicyTag, c.res.Sampled = c.publishedPolicy(rec, true), c.policyTagFor(rec, true), true
		return c.finish(dnsauth.Pass, c.passReason(modes))
	}
	if err != nil {
		return c.finish(dnsauth.TempError, "temporary DNS failure while checking alignment: "+err.Error())
	}
	if tempAligned != "" {
		// DMARCbis "Determine Handling Policy": with no aligned pass and an aligned temperror,
		// no permanent failure can be concluded.
		return c.finish(dnsauth.TempError, "no aligned pass, and "+tempAligned+" had a temporary error")
	}
	return c.fail(rec, modes)
}

// fail picks the policy for a failing message: the tag (p, sp or np), then
// pct= sampling and t=.
func (c *dmarcCheck) fail(rec *Record, modes string) Result {
	exists := true
	if c.res.RecordDomain != c.res.FromDomain && rec.NonexistentPolicy != "" {
		var err error
		if exists, err = dmarcDomainExists(c.ctx, c.dns, c.res.FromDomain); err != nil {
			return c.finish(dnsauth.TempError, "temporary DNS failure checking whether the author domain exists: "+err.Error())
		}
	}
	tag := c.policyTagFor(rec, exists)
	published := c.publishedPolicy(rec, exists)
	applied, sampled, why := c.sample(rec, published)
	c.res.Policy, c.res.PolicyTag, c.res.Sampled = applied, tag, sampled
	reason := fmt.Sprintf("no aligned SPF or DKIM pass (%s); %s=%s from _dmarc.%s, %s", modes, tag, published, c.res.RecordDomain, c.disc.how)
	if why != "" {
		reason += "; " + why
	}
	if rec.Repaired != "" {
		reason += "; " + rec.Repaired
	}
	return c.finish(dnsauth.Fail, reason)
}

// policyTagFor names the tag that applies (DMARCbis §4.10.1, RFC 7489
// §6.3): p at the author domain itself; for a subdomain, np when it does
// not exist and np is set, else sp when set, else p.
func (c *dmarcCheck) policyTagFor(rec *Record, exists bool) string {
	switch {
	case c.res.RecordDomain == c.res.FromDomain:
		return "p"
	case !exists && rec.NonexistentPolicy != "":
		return "np"
	case rec.SubdomainPolicy != "":
		return "sp"
	}
	return "p"
}

func (c *dmarcCheck) publishedPolicy(rec *Record, exists bool) string {
	switch c.policyTagFor(rec, exists) {
	case "np":
		return rec.NonexistentPolicy
	case "sp":
		return rec.SubdomainPolicy
	}
	return rec.Policy
}

// sample applies pct= (RFC 7489 §6.6.4; not in DMARCbis mode) and t=y
// (DMARCbis): a message left out gets the next less strict policy.
func (c *dmarcCheck) sample(rec *Record, policy string) (applied string, sampled bool, why string) {
	switch {
	case rec.Testing:
		why = "t=y (testing)"
	case c.opts.DMARCbis || rec.Percent >= 100:
		return policy, true, ""
	case rec.Percent > 0 && c.random() < rec.Percent:
		return policy, true, fmt.Sprintf("sampled by pct=%d", rec.Percent)
	default:
		why = fmt.Sprintf("not sampled by pct=%d", rec.Percent)
	}
	applied = dmarcDowngrade(policy)
	if applied != policy {
		why += fmt.Sprintf(", so %s becomes %s", policy, applied)
	}
	return applied, false, why
}

func (c *dmarcCheck) random() int {
	if c.opts.Rand != nil {
		return c.opts.Rand()
	}
	return rand.IntN(100)
}

// dmarcDowngrade is the next less strict policy (RFC 7489 §6.6.4).
func dmarcDowngrade(p string) string {
	switch p {
	case "reject":
		return "quarantine"
	case "quarantine":
		return "none"
	}
	return p
}

func (c *dmarcCheck) passReason(modes string) string {
	var by []string
	if c.res.SPFAligned {
		by = append(by, "SPF "+header.NormalizeDomain(c.in.SPF.Domain))
	}
	if c.res.DKIMAligned {
		by = append(by, "DKIM d="+c.res.AlignedDKIM)
	}
	return fmt.Sprintf("%s aligned (%s), record at _dmarc.%s", strings.Join(by, " and "), modes, c.res.RecordDomain)
}

// alignAll sets SPFAligned, DKIMAligned and AlignedDKIM, and names an
// identifier that would have aligned but had a temporary error. A DNS
// failure while checking one identifier does not stop the others: one
// aligned pass settles DMARC whatever else failed.
func (c *dmarcCheck) alignAll(adkim, aspf string) (tempAligned string, err error) {
	if spf := c.in.SPF; spf != nil && spf.Domain != "" && (spf.Result == dnsauth.Pass || spf.Result == dnsauth.TempError) {
		ok, aerr := c.aligned(spf.Domain, aspf == "s")
		err = cmp.Or(err, aerr)
		c.res.SPFAligned = ok && spf.Result == dnsauth.Pass
		if ok && spf.Result == dnsauth.TempError {
			tempAligned = "SPF " + header.NormalizeDomain(spf.Domain)
		}
	}
	for _, k := range c.in.DKIM {
		if k.Result != dnsauth.Pass && k.Result != dnsauth.TempError || c.res.DKIMAligned {
			continue
		}
		ok, aerr := c.aligned(k.Domain, adkim == "s")
		err = cmp.Or(err, aerr)
		if ok && k.Result == dnsauth.Pass {
			c.res.DKIMAligned, c.res.AlignedDKIM = true, header.NormalizeDomain(k.Domain)
		} else if ok && tempAligned == "" {
			tempAligned = "DKIM d=" + header.NormalizeDomain(k.Domain)
		}
	}
	return tempAligned, err
}

// aligned compares an authenticated domain with the author domain:
// strict is equality, relaxed is equal organizational domains, from the
// PSL (RFC 7489 §3.2) or from tree walks when DMARCbis rules apply.
func (c *dmarcCheck) aligned(id string, strict bool) (bool, error) {
	id, from := header.NormalizeDomain(id), c.res.FromDomain
	switch {
	case id == "" || from == "":
		return false, nil
	case id == from:
		return true, nil
	case strict:
		return false, nil
	case c.disc == nil || !c.disc.bisRules:
		return OrgDomain(id) == OrgDomain(from), nil
	}
	return c.bisAligned(id)
}

// bisAligned compares DMARCbis organizational domains (§4.10.2). An
// organizational domain is always the name itself or one of its parents,
// so only an identifier at or below the author's organizational domain
// can align, and only those are walked.
func (c *dmarcCheck) bisAligned(id string) (bool, error) {
	org := c.disc.org
	if id != org && !strings.HasSuffix(id, "."+org) {
		return false, nil
	}
	if !dmarcQueryable("_dmarc." + id) {
		return false, nil
	}
	w, ok := c.walks[id]
	if !ok {
		w = dmarcTreeWalk(c.ctx, c.dns, id)
		c.walks[id] = w
	}
	if w.tempErr != nil {
		return false, w.tempErr
	}
	return w.bisOrg() == org, nil
}

// dmarcDomainExists tells whether name exists for np= (DMARCbis §3.2.13,
// RFC 8020): it does not when both the address and the MX lookups answer
// NXDOMAIN. NODATA means the name exists.
func dmarcDomainExists(ctx context.Context, dns dnsauth.DNS, name string) (bool, error) {
	_, err := dns.LookupIPAddr(ctx, name)
	if err == nil {
		return true, nil
	}
	if !dnsauth.IsNotFound(err) {
		return false, dmarcTemporary(name, err)
	}
	_, err = dns.LookupMX(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case dnsauth.IsNotFound(err):
		return false, nil
	}
	return false, dmarcTemporary(name, err)
}
