package dmarc

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/header"
)

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
