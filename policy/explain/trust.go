package explain

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/arc"
	"github.com/spoofguard/spoofguard/policy"
)

// ARC is the ARC chain of a message from a relay that names its sealers.
type ARC struct {
	CV       dnsauth.Result `json:"cv"`
	Reason   string         `json:"reason"`
	Instance int            `json:"instance"`
	Sealer   string         `json:"sealer"`
	Sets     []ARCSet       `json:"sets"`
	Trusted  bool           `json:"trusted"`
	Why      string         `json:"why"`
}

// ARCSet is one ARC set: who sealed and signed it, and the results its
// ARC-Authentication-Results recorded.
type ARCSet struct {
	Instance   int      `json:"instance"`
	Sealer     string   `json:"sealer"`
	Signer     string   `json:"signer"`
	AuthservID string   `json:"authserv_id"`
	Results    []string `json:"results"`
}

// Trusted is a pass taken from the relay's own verifier.
type Trusted struct {
	Method string `json:"method"`
	Domain string `json:"domain"`
	Source string `json:"source"`
}

// trustOf renders what the relay's verifiers lent to the message.
func (r *Report) trustOf(m *policy.Message) {
	r.Trusted = make([]Trusted, 0, len(m.Trusted))
	for _, t := range m.Trusted {
		r.Trusted = append(r.Trusted, Trusted{t.Method, t.Domain, t.Source})
	}
	o := m.ARC
	if o == nil {
		return
	}
	r.ARC = &ARC{CV: o.CV, Reason: o.Reason, Instance: o.Instance, Sealer: o.Sealer, Trusted: o.Trusted, Why: o.Why, Sets: []ARCSet{}}
	for _, s := range o.Sets {
		r.ARC.Sets = append(r.ARC.Sets, ARCSet{s.Instance, s.Sealer, s.Signer, s.AuthservID, resultWords(s.Results)})
	}
}

// resultWords writes each recorded result as "method=result name=value".
func resultWords(rs []arc.AuthResult) []string {
	out := make([]string, 0, len(rs))
	for _, res := range rs {
		w := res.Method + "=" + string(res.Result)
		for _, p := range []string{"header.d", "header.i", "smtp.mailfrom"} {
			if v := res.Prop(p); v != "" {
				w += " " + p + "=" + v
			}
		}
		out = append(out, w)
	}
	return out
}

// textTrust shows the ARC chain and the results taken from the relay's
// verifiers, with why; nothing when the relay trusts neither.
func (r *Report) textTrust(t *textWriter) {
	if a := r.ARC; a != nil {
		t.line("")
		t.line("ARC: chain %s%s", a.CV, strings.TrimSuffix(" ("+a.Reason+")", " ()"))
		for _, s := range a.Sets {
			t.item("i="+strconv.Itoa(s.Instance), fmt.Sprintf("sealed by %s, signed by %s, results of %s: %s",
				orNone(s.Sealer), orNone(s.Signer), orNone(s.AuthservID), orNone(strings.Join(s.Results, "; "))))
		}
		t.item("trusted", yesNo(a.Trusted)+": "+a.Why)
	}
	if len(r.Trusted) == 0 {
		return
	}
	t.line("")
	t.line("Taken from the relay's verifiers (count for alignment)")
	for _, tr := range r.Trusted {
		t.item(tr.Method+"=pass", tr.Domain+"  ← "+tr.Source)
	}
}
