package policy

import (
	"slices"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth/authres"
)

// AuthResultsField is the name of the Authentication-Results field
// (RFC 8601 §2.2).
const AuthResultsField = "Authentication-Results"

// reasonOutsideVerdict is why every incoming verdict header goes: filters
// downstream act on it, so one written before us is forged.
const reasonOutsideVerdict = "a verdict header from outside"

// Removal is one existing header field the daemon deletes.
type Removal struct {
	Name string // the field name the MTA is given; fields match it without regard to case
	// Index counts from 1 among the fields of that name, top first: the
	// way the milter protocol addresses a field (SMFIR_CHGHEADER).
	Index  int
	Value  string // the field's raw value, to show what goes
	Reason string
}

// HeaderEdits is the change the daemon makes to the header of a message
// it accepts or holds: the decision is the engine's, the milter only
// applies it and `spoofguard check` shows it.
type HeaderEdits struct {
	// Remove is in the order to apply: for each name from the last field
	// up, so the index of every field still to go stays valid.
	Remove []Removal
	// Insert holds the fields for the top of the header, in the order
	// they are to stand there; values are raw, like Header's.
	Insert []Header
}

// HeaderEdits is the header change planned at the end of the body; empty
// when the message is refused or has not reached the end of its body.
func (m *Message) HeaderEdits() HeaderEdits { return m.edits }

// planEdits decides what EndOfBody's verdict does to the header: forged
// Authentication-Results fields claiming our authserv-id go (RFC 8601
// §5), so does every verdict header from outside, and ours are added on
// top, Authentication-Results first.
func (m *Message) planEdits() HeaderEdits {
	mc := &m.e.cfg.Milter
	id, vh := mc.AuthservID, mc.VerdictHeader
	m.added = [2]Header{
		{Name: AuthResultsField, Value: " " + m.AuthResults(id)},
		{Name: vh, Value: " " + m.VerdictHeader()},
	}
	return HeaderEdits{Remove: m.removals(id, vh), Insert: m.added[:]}
}

// removals finds, in one pass, the Authentication-Results fields that
// claim authservID and the fields named vh, and lists them in the order
// they can be deleted: the forged results from the last, then the
// verdict headers from the last.
func (m *Message) removals(authservID, vh string) []Removal {
	var ar, verdicts []Removal
	n, nv := 0, 0
	for _, h := range m.headers {
		switch {
		case strings.EqualFold(h.Name, AuthResultsField):
			n++
			if authres.IsOwn(h.Value, authservID) {
				ar = append(ar, Removal{AuthResultsField, n, h.Value, "claims our authserv-id " + authservID})
			}
		case strings.EqualFold(h.Name, vh):
			nv++
			verdicts = append(verdicts, Removal{vh, nv, h.Value, reasonOutsideVerdict})
		}
	}
	slices.Reverse(ar)
	slices.Reverse(verdicts)
	return append(ar, verdicts...)
}
