package policy

import (
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/authres"
	dmarcauth "github.com/spoofguard/spoofguard/dnsauth/dmarc"
)

// A filtering relay that changes messages (a subject tag, a footer, links
// rewritten) breaks the DKIM signatures it received, and own-domain mail
// signed by a SaaS sender would then fail the header-forgery rule. The big
// filters say what they saw before they changed it: in their own
// Authentication-Results field, and in an ARC set they seal. A relay's
// configuration can name both (authserv_id, arc_sealers), and what they
// report then counts for alignment, beside what the engine verified
// itself: for the header-forgery rule and as a DMARC local policy
// override. It can rescue a message; it never changes the client class,
// the relay trace or any other rule.

// TrustedResult is a DKIM or SPF pass the engine did not verify itself
// but takes from a verifier the configuration trusts.
type TrustedResult struct {
	Method string // "dkim" or "spf"
	Domain string // header.d, or the domain of smtp.mailfrom
	Source string // where it was read, in words
}

// String is the result as a reason names it.
func (t TrustedResult) String() string {
	if t.Method == "spf" {
		return "spf=pass smtp.mailfrom=" + t.Domain + " (" + t.Source + ")"
	}
	return "dkim=pass header.d=" + t.Domain + " (" + t.Source + ")"
}

// takeResults picks the passes that count for alignment from one
// verifier's results: dkim=pass with header.d (or header.i), spf=pass
// with smtp.mailfrom. Nothing else a verifier says is taken.
func takeResults(results []authres.Resinfo, source string) []TrustedResult {
	var out []TrustedResult
	for _, r := range results {
		if r.Result != "pass" {
			continue
		}
		var dom string
		switch r.Method {
		case "dkim":
			dom = r.Props["header.d"]
			if dom == "" {
				dom = DomainOf(r.Props["header.i"])
			}
		case "spf":
			dom = DomainOf(r.Props["smtp.mailfrom"])
			if dom == "" && !strings.Contains(r.Props["smtp.mailfrom"], "@") {
				dom = strings.ToLower(strings.TrimSuffix(r.Props["smtp.mailfrom"], "."))
			}
		default:
			continue
		}
		if dom != "" {
			out = append(out, TrustedResult{Method: r.Method, Domain: dom, Source: source})
		}
	}
	return out
}

// relayAuthResults reads the relay's own Authentication-Results fields:
// those with the relay's authserv-id that stand above the Received field
// the original client was read from. Only the relay writes there; a field
// below it, or with another id, may come from the sender and is ignored
// (RFC 8601 §5: trust only the fields of known verifiers).
func (m *Message) relayAuthResults(relay, authservID string) []TrustedResult {
	o := m.Origin
	if authservID == "" || m.Class != ClassRelay || o == nil || o.Err != "" {
		return nil
	}
	want := strings.TrimSuffix(authservID, ".")
	source := "relay " + quote(relay) + "'s Authentication-Results, " + want
	var out []TrustedResult
	received := 0
	for _, h := range m.headers {
		switch {
		case strings.EqualFold(h.Name, "Received"):
			if received == o.Index {
				return out
			}
			received++
		case strings.EqualFold(h.Name, "Authentication-Results"):
			id, results := authres.Parse(h.Value)
			if strings.EqualFold(strings.TrimSuffix(id, "."), want) {
				out = append(out, takeResults(results, source)...)
			}
		}
	}
	return nil // the origin's field is always among the headers; be safe
}

// trustedAligned returns the first trusted result aligned with dom,
// strictly (the same domain) or relaxed (the same organizational domain,
// RFC 7489 §3.1); nil when none is.
func (m *Message) trustedAligned(dom string, strictDKIM, strictSPF bool) *TrustedResult {
	for i, t := range m.Trusted {
		strict := strictDKIM
		if t.Method == "spf" {
			strict = strictSPF
		}
		if strict && strings.EqualFold(t.Domain, strings.TrimSuffix(dom, ".")) || !strict && aligned(t.Domain, dom) {
			return &m.Trusted[i]
		}
	}
	return nil
}

// trustedOthers are our Authentication-Results entries for the results
// taken from trusted verifiers, each naming its source in a comment.
func (m *Message) trustedOthers() []authres.Other {
	var out []authres.Other
	for _, t := range m.Trusted {
		prop := "header.d"
		if t.Method == "spf" {
			prop = "smtp.mailfrom"
		}
		out = append(out, authres.Other{Method: t.Method, Result: "pass", Comment: "from " + t.Source, Props: []string{prop, t.Domain}})
	}
	return out
}

// dmarcOverride returns the trusted result that overrides a DMARC
// failure of r, nil when none does. RFC 7489 §6.7 lets a receiver apply
// local policy; RFC 8617 §7.2 makes a trusted ARC chain its input. The
// alignment mode is the record's (adkim, aspf), as for a verified pass.
func (m *Message) dmarcOverride(r dmarcauth.Result) *TrustedResult {
	if r.Result != dnsauth.Fail && r.Result != dnsauth.TempError {
		return nil
	}
	strictDKIM, strictSPF := false, false
	if rec := r.Record; rec != nil {
		strictDKIM, strictSPF = rec.ADKIM == "s", rec.ASPF == "s"
	}
	return m.trustedAligned(r.FromDomain, strictDKIM, strictSPF)
}
