package impersonation

import (
	"fmt"
	"strings"
	"unicode"
)

// person is one protected person, by the keys of the given and family
// names. Middle names and initials are not required to match.
type person struct {
	first, last string
	name        string // as configured
	target      int
}

func (ix *Index) addPerson(full string, i int) {
	ws := words(full)
	if PersonProblem(full) != "" {
		return
	}
	p := person{first: ws[0], last: ws[len(ws)-1], name: full, target: i}
	ix.people[p.last] = append(ix.people[p.last], p)
}

// PersonProblem says why a protected person's name cannot be matched
// safely, or returns "". A name needs at least two words of two letters
// or more, given and family name: a single word ("Jane", "Support") would
// fire on every display name that contains it.
func PersonProblem(full string) string {
	ws := words(full)
	switch {
	case len(ws) < 2:
		return "a protected person needs a given name and a family name; a single word would match every display name containing it"
	case len([]rune(ws[0])) < 2 || len([]rune(ws[len(ws)-1])) < 2:
		return "the given and the family name must be written out, not as initials"
	}
	return ""
}

// maxDisplay bounds the display text examined: a display name is a few
// dozen characters, and a hostile one must not cost more than that.
const maxDisplay = 1000

// Display reports whether display text (a display name or a comment,
// encoded words already decoded) names a protected address or domain,
// under any disguise of letters, or — when people is set — a protected
// person, given and family name in any order, with or without middle
// names, initials, titles and punctuation.
func (ix *Index) Display(text string, people bool) (Match, bool) {
	if len(text) > maxDisplay {
		text = text[:maxDisplay]
	}
	v := visible(text)
	if m, ok := ix.displayDomain(text, v); ok {
		return m, true
	}
	if people && len(ix.people) > 0 {
		return ix.displayPerson(text, v)
	}
	return Match{}, false
}

// displayDomain finds a protected domain (or one of its subdomains, or a
// name with the same skeleton) among the domain-like runs of the text:
// "ceo@example.org", "Example.org IT desk".
func (ix *Index) displayDomain(text, v string) (Match, bool) {
	for _, run := range domainRuns(v) {
		k := key(run)
		for s := k; s != ""; {
			if i, ok := ix.full[s]; ok {
				return ix.addressMatch(text, run, i), true
			}
			_, s, _ = strings.Cut(s, ".")
		}
	}
	return Match{}, false
}

func (ix *Index) addressMatch(text, run string, i int) Match {
	t := &ix.targets[i]
	names := t.name.unicode
	if !strings.HasSuffix(run, t.name.unicode) && !strings.HasSuffix(run, t.name.ascii) {
		names = run + ", which looks like " + t.name.unicode
	}
	return Match{Kind: KindAddress, Protected: t.domain, Subject: text,
		Explanation: fmt.Sprintf("%q names %s", text, names)}
}

// domainRuns returns the pieces of text made of letters, digits, marks,
// hyphens and dots that hold a dot between two labels.
func domainRuns(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || r == '-' || r == '.')
	}) {
		f = strings.Trim(f, ".-")
		if strings.Contains(f, ".") {
			out = append(out, f)
		}
	}
	return out
}

// displayPerson finds a protected person's given and family name among
// the words of the text.
func (ix *Index) displayPerson(text, v string) (Match, bool) {
	ws := words(v)
	for i, w := range ws {
		for _, p := range ix.people[w] {
			for j, u := range ws {
				if j != i && u == p.first {
					t := &ix.targets[p.target]
					return Match{Kind: KindPerson, Protected: t.domain, Person: p.name, Subject: text,
						Explanation: fmt.Sprintf("%q names %s, a protected person of %s", text, p.name, t.name.unicode)}, true
				}
			}
		}
	}
	return Match{}, false
}
