package policy

import (
	"strings"

	"github.com/spoofguard/spoofguard/config"
)

// domainIndex finds the protected domain that covers a name in time
// linear in the name's labels, whatever the number of protected domains:
// the engine asks several times per message, and a scan over a thousand
// [[domain]] tables would cost more than the rest of the message's rules.
type domainIndex map[string]*config.DomainConfig

func newDomainIndex(cfg *config.Config) domainIndex {
	idx := make(domainIndex, len(cfg.Domains))
	for i := range cfg.Domains {
		if _, dup := idx[cfg.Domains[i].Name]; !dup {
			idx[cfg.Domains[i].Name] = &cfg.Domains[i]
		}
	}
	return idx
}

// lookup is Config.Domain: the longest protected name that equals the
// normalised name, or is a parent of it with subdomains on.
func (idx domainIndex) lookup(name string) *config.DomainConfig {
	n := config.LookupName(name)
	if d := idx[n]; d != nil {
		return d
	}
	for _, p, ok := strings.Cut(n, "."); ok; _, p, ok = strings.Cut(p, ".") {
		if d := idx[p]; d != nil && d.IncludesSubdomains() {
			return d
		}
	}
	return nil
}
