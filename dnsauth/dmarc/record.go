package dmarc

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

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
//
// The engine and the audit get their records through Check and Lookup,
// which use the same parser; Parse is kept as the entry point for a
// record's text alone, through which the record tests and FuzzParse pin
// the parser's contract.
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
