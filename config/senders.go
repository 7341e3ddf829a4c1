package config

import (
	"strings"
	"unicode"
)

// Sender is one authorised sender of a protected domain: a third party
// (a newsletter service, a CRM, a device) that may send as the domain,
// and the one proof that must pass for each of its messages. The engine
// reads it; the check below normalises the domains (lower-case A-labels
// without a final dot).
type Sender struct {
	Name     string    `toml:"name"`     // for logs, Authentication-Results and reports
	DKIM     string    `toml:"dkim"`     // a DKIM signature with exactly this d= verified
	SPF      string    `toml:"spf"`      // SPF passed for a MAIL FROM in exactly this domain
	Networks []Network `toml:"networks"` // the evaluated client is inside one of them
}

// The widest networks an entry may list. An authorised sender exempts
// its mail from the domain's own-domain rules, so a network that spans a
// large share of the Internet would hand the domain to everybody in it:
// an IPv4 /16 is already 65,536 hosts; IPv6 /32 is the usual allocation
// a regional registry makes to one provider.
const (
	senderMinBits4 = 16
	senderMinBits6 = 32
	senderMaxName  = 64
)

// senders checks the authorised senders of one [[domain]] (p is its
// path, "domain[0]"): each has a unique name and exactly one proof that
// cannot open the domain wide.
func (v *checker) senders(p string, dm *DomainConfig) {
	first := map[string]int{}
	for i := range dm.Senders {
		sp := index(p+".senders", i)
		s := &dm.Senders[i]
		v.senderName(sp, s.Name, i, first)
		if v.oneProof(sp, s) {
			v.senderDomain(sp+".dkim", &s.DKIM, dm.Name, "a DKIM signature")
			v.senderDomain(sp+".spf", &s.SPF, dm.Name, "an SPF pass")
			v.senderNetworks(sp+".networks", s.Networks)
		}
	}
}

func (v *checker) senderName(path, name string, i int, first map[string]int) {
	switch {
	case strings.TrimSpace(name) == "":
		v.report(path+".name", "required: every authorised sender needs a name, which logs, headers and reports show")
	case len(name) > senderMaxName || strings.ContainsFunc(name, unicode.IsControl):
		v.report(path+".name", "%s: a name is at most %d bytes without control characters", quote(name), senderMaxName)
	default:
		if j, dup := first[name]; dup {
			v.report(path+".name", "duplicate sender name %s (first at line %d): logs and reports tell entries apart by name", quote(name), v.d.line(index(parentPath(path), j)))
			return
		}
		first[name] = i
	}
}

// oneProof reports whether the entry names exactly one proof.
func (v *checker) oneProof(path string, s *Sender) bool {
	var kinds []string
	if s.DKIM != "" {
		kinds = append(kinds, "dkim")
	}
	if s.SPF != "" {
		kinds = append(kinds, "spf")
	}
	if len(s.Networks) > 0 {
		kinds = append(kinds, "networks")
	}
	switch len(kinds) {
	case 1:
		return true
	case 0:
		v.report(path, "no proof: give exactly one of dkim, spf or networks")
	default:
		v.report(path, "%s together: give exactly one proof per entry (two entries, under two names, accept either proof)", strings.Join(kinds, " and "))
	}
	return false
}

// senderDomain normalises a dkim or spf domain and refuses one that
// would prove nothing about a particular third party.
func (v *checker) senderDomain(path string, name *string, protected, what string) {
	if *name == "" {
		return
	}
	norm, err := domainName(*name, false)
	switch {
	case err != nil:
		v.report(path, "%v", err)
	case publicSuffix(norm):
		v.report(path, "%s is a public suffix: %s of any domain under it would count, so anybody could send as %s", norm, what, protected)
	case protected != "" && (norm == protected || strings.HasSuffix(norm, "."+protected)):
		v.report(path, "%s is the protected domain %s or below it: its own SPF and DKIM already count when aligned, and an entry for it proves nothing about a third party", norm, protected)
	default:
		*name = norm
	}
}

func (v *checker) senderNetworks(path string, nets []Network) {
	for i, n := range nets {
		minBits := senderMinBits4
		if n.Addr().Is6() {
			minBits = senderMinBits6
		}
		if n.Bits() < minBits {
			v.report(index(path, i), "%s is too wide for an authorised sender: every host in it could send as the domain; list the third party's own networks, /%d or narrower", n, minBits)
		}
	}
}
