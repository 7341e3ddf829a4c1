// Package impersonation recognises mail that only looks like it comes from
// a protected organisation. Once forged own-domain mail is refused, the
// same fraud moves to names a reader takes for the organisation's: a
// display name holding a protected address ("ceo@example.org"
// <x@evil.example>) or a protected person's name ("Jane Doe, CEO"
// <jane.doe.ceo@gmail.example>), and cousin domains (examp1e.org,
// example-org.com, exаmple.org with a Cyrillic а). Such mail passes SPF,
// DKIM and DMARC, because the attacker owns the domain it comes from.
//
// Everything rests on one comparison key: text in Unicode compatibility
// form (NFKC), case-folded, mapped to its confusable skeleton (Unicode
// TS #39 §4, with the data of the Unicode confusables table) and stripped
// of accents, so that letters a reader cannot tell apart compare equal.
// An Index holds the protected domains and people by that key, built once
// per configuration: looking a name up costs a few map probes (a
// symmetric-delete neighbourhood finds names one or two edits away),
// never a scan over every protected name.
//
// The package decides nothing about a message: it answers "does this look
// like one of ours, and why", and the policy engine decides what that
// means for the sender at hand.
package impersonation

// Protected is one protected domain as the index needs it.
type Protected struct {
	Domain string   // the domain name; A-label or U-label, any case
	People []string // names of protected persons, "Jane Doe"
	Allow  []string // real domains that merely look like Domain (and their subdomains)
}

// Kind says how a name resembles a protected one.
type Kind string

// The kinds of resemblance.
const (
	KindHomograph Kind = "homograph"        // the same confusable skeleton
	KindSuffix    Kind = "other-suffix"     // the same name under another public suffix
	KindHyphen    Kind = "hyphenated"       // the name with a hyphen, or with its suffix run in
	KindLabel     Kind = "extra-label"      // the name as a label of another domain
	KindEdit      Kind = "edit-distance"    // one or two letters changed, added, dropped or swapped
	KindAddress   Kind = "address"          // a display text names a protected address or domain
	KindPerson    Kind = "protected-person" // a display text names a protected person
)

// Match is one resemblance found.
type Match struct {
	Kind      Kind
	Protected string // the protected domain concerned (as configured)
	Person    string // the protected person, for KindPerson
	Subject   string // what resembled it: the domain, or the display text
	// Explanation says it in words, e.g. "exаmple.org (Cyrillic а in
	// place of a at position 3) looks like example.org".
	Explanation string
}
