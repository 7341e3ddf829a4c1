package impersonation

import (
	"strings"
)

// target is one protected registrable name.
type target struct {
	domain string // as configured
	name   name
	key    string // key of name.label
	plain  string // plain form of name.label
	allow  []string
}

// Index holds the protected domains and people, keyed for look-up. It is
// built once per configuration and read concurrently.
type Index struct {
	targets []target
	own     map[string]bool  // registrable names of protected domains: the organisation itself
	byKey   map[string][]int // label key → targets (skeleton, other suffix, hyphen, extra label)
	joined  map[string][]int // label key with the suffix run in ("exampleorg") → targets
	full    map[string]int   // key of a whole protected name → target (addresses in display text)
	near    deletes          // label keys by their deletion neighbourhood (edit distance)
	people  map[string][]person
}

// New builds the index of the protected domains. Domains that do not
// parse (a bare public suffix, say) are left out: configuration checking
// refuses them before they get here.
func New(protected []Protected) *Index {
	ix := &Index{
		own:    map[string]bool{},
		byKey:  map[string][]int{},
		joined: map[string][]int{},
		full:   map[string]int{},
		near:   newDeletes(),
		people: map[string][]person{},
	}
	for _, p := range protected {
		ix.add(p)
	}
	return ix
}

func (ix *Index) add(p Protected) {
	n, ok := parseName(p.Domain)
	if !ok {
		return
	}
	i := len(ix.targets)
	t := target{domain: p.Domain, name: n, key: key(n.label), plain: plain(n.label), allow: normalAllow(p.Allow)}
	ix.targets = append(ix.targets, t)
	if _, dup := ix.full[key(n.unicode)]; !dup {
		ix.full[key(n.unicode)] = i
	}
	for _, person := range p.People {
		ix.addPerson(person, i)
	}
	if ix.own[n.reg] {
		return // another protected name of the same organisation is indexed already
	}
	ix.own[n.reg] = true
	ix.byKey[t.key] = append(ix.byKey[t.key], i)
	jk := t.key + key(strings.ReplaceAll(toUnicode(n.suffix), ".", ""))
	ix.joined[jk] = append(ix.joined[jk], i)
	if d := maxEdits(t.plain); d > 0 {
		ix.near.add(t.key, d, i)
		if t.plain != t.key {
			ix.near.add(t.plain, d, i)
		}
	}
}

func normalAllow(list []string) []string {
	var out []string
	for _, a := range list {
		if n, ok := parseName(a); ok {
			out = append(out, n.ascii)
		}
	}
	return out
}

// allowed reports whether the domain, or a parent of it, is on the
// target's list of real domains that merely look like it.
func (t *target) allowed(ascii string) bool {
	for _, a := range t.allow {
		if ascii == a || strings.HasSuffix(ascii, "."+a) {
			return true
		}
	}
	return false
}

// Lookalike reports whether a domain that is not protected looks like a
// protected one: the same skeleton, the same name under another public
// suffix, the name hyphenated or as an extra label, or a name one or two
// edits away. Names of the protected organisation itself (any name under
// a protected registrable domain) and allowed names never match.
func (ix *Index) Lookalike(domain string) (Match, bool) {
	n, ok := parseName(domain)
	if !ok || ix.own[n.reg] {
		return Match{}, false
	}
	lk := key(n.label)
	for _, find := range []func(name, string) (int, Kind){ix.sameKey, ix.hyphenated, ix.extraLabel, ix.edited} {
		if i, kind := find(n, lk); i >= 0 {
			return ix.match(n, domain, i, kind), true
		}
	}
	return Match{}, false
}

// first returns the first of the candidate targets that does not allow
// the name, or -1.
func (ix *Index) first(n name, candidates []int) int {
	for _, i := range candidates {
		if !ix.targets[i].allowed(n.ascii) {
			return i
		}
	}
	return -1
}

// sameKey: the registrable label has a protected label's skeleton, under
// the same suffix (a homograph) or another one.
func (ix *Index) sameKey(n name, lk string) (int, Kind) {
	i := ix.first(n, ix.byKey[lk])
	switch {
	case i < 0:
		return -1, ""
	case ix.targets[i].name.suffix != n.suffix && ix.targets[i].name.label == n.label:
		return i, KindSuffix
	}
	return i, KindHomograph
}

// hyphenated: "example-org", "example-secure", "my-example", "exam-ple",
// and the suffix run into the name ("exampleorg").
func (ix *Index) hyphenated(n name, lk string) (int, Kind) {
	if i := ix.first(n, ix.joined[lk]); i >= 0 {
		return i, KindHyphen
	}
	if !strings.Contains(lk, "-") {
		return -1, ""
	}
	whole := strings.ReplaceAll(lk, "-", "")
	if i := ix.first(n, ix.byKey[whole]); i >= 0 {
		return i, KindHyphen
	}
	if i := ix.first(n, ix.joined[whole]); i >= 0 {
		return i, KindHyphen
	}
	return ix.distinctPart(n, strings.Split(lk, "-"), KindHyphen)
}

// extraLabel: the protected name as a label left of the registrable
// domain, "example.org.evil.example" or "example.login.example".
func (ix *Index) extraLabel(n name, _ string) (int, Kind) {
	if n.sub == "" {
		return -1, ""
	}
	return ix.distinctPart(n, strings.Split(key(n.sub), "."), KindLabel)
}

// distinctPart finds a part equal to a distinctive protected label.
func (ix *Index) distinctPart(n name, parts []string, kind Kind) (int, Kind) {
	for _, p := range parts {
		for _, i := range ix.byKey[p] {
			if t := &ix.targets[i]; distinctive(t.plain) && !t.allowed(n.ascii) {
				return i, kind
			}
		}
	}
	return -1, ""
}

// edited: a label within the protected label's edit budget (optimal
// string alignment distance: substitution, insertion, deletion,
// transposition of neighbours), found through the deletion neighbourhood
// of its key or of its plain form.
func (ix *Index) edited(n name, lk string) (int, Kind) {
	best := -1
	check := func(i int) bool {
		t := &ix.targets[i]
		d := maxEdits(t.plain)
		if t.allowed(n.ascii) || min(osa(lk, t.key, d), osa(plain(n.label), t.plain, d)) > d {
			return true
		}
		best = i
		return false
	}
	ix.near.candidates(lk, check)
	if pl := plain(n.label); best < 0 && pl != lk {
		ix.near.candidates(pl, check)
	}
	if best < 0 {
		return -1, ""
	}
	return best, KindEdit
}
