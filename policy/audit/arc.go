package audit

import (
	"strings"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
)

// arcFindings checks that each ARC sealer of a relay publishes a key
// (RFC 8617 §4.1.3: the DKIM key record at <s>._domainkey.<d>) under one
// of the relay's arc_selectors. A sealer without a key fails every seal,
// so mail the relay changed would be refused. The selectors are the
// configuration's because the DNS cannot list the names under
// _domainkey: they are the s= of the relay's ARC-Seal fields.
func (a *auditor) arcFindings(add addFunc, r config.RelayConfig) {
	if len(r.ArcSealers) == 0 {
		return
	}
	check := "relay " + quote(r.Name) + " arc"
	if len(r.ArcSelectors) == 0 {
		add(check, Warn, "the keys of the ARC sealers "+strings.Join(r.ArcSealers, ", ")+" cannot be checked: no arc_selectors",
			"set arc_selectors to the s= values of the relay's ARC-Seal fields")
		return
	}
	for _, sealer := range r.ArcSealers {
		var found, problems []string
		for _, sel := range r.ArcSelectors {
			if why := a.arcKey(sel + "._domainkey." + sealer); why != "" {
				problems = append(problems, why)
			} else {
				found = append(found, sel)
			}
		}
		if len(found) == 0 {
			add(check, Fail, sealer+" publishes no ARC key: "+strings.Join(problems, "; "),
				"ask the relay's operator for the selectors it seals with, or remove "+sealer+" from arc_sealers")
			continue
		}
		add(check, Pass, sealer+" publishes a key under selector(s) "+strings.Join(found, ", "), "")
	}
}

// arcKey says what is wrong with the key record at name; "" when a
// usable-looking record (a non-empty p=) is there.
func (a *auditor) arcKey(name string) string {
	txts, err := a.e.DNS().LookupTXT(a.ctx, name)
	switch {
	case err != nil && dnsauth.IsNotFound(err):
		return "no record at " + name
	case err != nil:
		return "lookup of " + name + " failed: " + err.Error()
	}
	for _, txt := range txts {
		for tag := range strings.SplitSeq(txt, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(tag), "=")
			if strings.TrimSpace(k) == "p" && strings.TrimSpace(v) != "" {
				return ""
			}
		}
	}
	return "the record at " + name + " has no key (p= empty: revoked)"
}
