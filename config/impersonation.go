package config

import "github.com/spoofguard/spoofguard/policy/impersonation"

// impersonation checks a [[domain]]'s impersonation keys.
func (v *checker) impersonation(p string, dm *DomainConfig) {
	v.action(p+".display_name", dm.DisplayName, nil)
	v.action(p+".lookalike", dm.Lookalike, nil)
	v.domainNames(p+".lookalike_allow", dm.LookalikeAllow, false)
	for i, name := range dm.LookalikeAllow {
		if _, err := domainName(name, false); err == nil && publicSuffix(name) {
			v.report(index(p+".lookalike_allow", i), "%s is a public suffix: allowing it would let every domain under it imitate %s", name, dm.Name)
		}
	}
	for i, name := range dm.People {
		if why := impersonation.PersonProblem(name); why != "" {
			v.report(index(p+".people", i), "%s: %s", quote(name), why)
		}
	}
}
