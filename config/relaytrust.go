package config

import "strings"

// relayTrust checks the keys that say how far a relay is trusted: the
// names its MTAs write (by_names), its ARC sealers (and the selectors the
// audit looks their keys up by) and its own authserv-id.
func (v *checker) relayTrust(p string, r *RelayConfig) {
	v.byNames(p+".by_names", r.ByNames)
	if len(r.ByNames) > 0 && r.Hops != 1 {
		v.report(p+".hops", "hops and by_names are both set: by_names follows the relay's own Received headers whatever their number; remove hops")
	}
	v.domainNames(p+".arc_sealers", r.ArcSealers, false)
	v.domainNames(p+".arc_selectors", r.ArcSelectors, true)
	if len(r.ArcSelectors) > 0 && len(r.ArcSealers) == 0 {
		v.report(p+".arc_selectors", "arc_selectors without arc_sealers: name the sealing domains whose keys they are")
	}
	if r.AuthservID == "" {
		return
	}
	if err := checkAuthservID(r.AuthservID); err != nil {
		v.report(p+".authserv_id", "%v", err)
	} else if strings.EqualFold(strings.TrimSuffix(r.AuthservID, "."), strings.TrimSuffix(v.c.Milter.AuthservID, ".")) {
		v.report(p+".authserv_id", "%s is milter.authserv_id, ours: fields carrying it are removed as forged, never trusted", quote(r.AuthservID))
	}
}

// byNames checks host names and "*.suffix" patterns; a pattern below a
// public suffix ("*.com") would match hosts anyone can name.
func (v *checker) byNames(path string, names []string) {
	for i, s := range names {
		p := index(path, i)
		suffix, wild := strings.CutPrefix(s, "*.")
		norm, err := domainName(suffix, false)
		switch {
		case err != nil:
			v.report(p, "%v (want a host name or \"*.\" and a domain)", err)
		case wild && publicSuffix(norm):
			v.report(p, "%s is a public suffix: any host under it could pose as the relay", norm)
		case wild:
			names[i] = "*." + norm
		default:
			names[i] = norm
		}
	}
}
