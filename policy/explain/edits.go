package explain

import (
	"strings"

	"github.com/spoofguard/spoofguard/policy"
)

// RemovedHeader is a field of the message the daemon deletes.
type RemovedHeader struct {
	Name   string `json:"name"`
	Index  int    `json:"index"` // 1-based among the fields of that name, top first
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// headerEdits reports the engine's header plan: the fields it deletes and
// the ones it adds, both only for a message it accepts (or holds), never
// for one it refuses.
func (r *Report) headerEdits(m *policy.Message) {
	r.RemovedHeaders = []RemovedHeader{}
	if r.Verdict.Refuses() {
		return
	}
	plan := m.HeaderEdits()
	for _, d := range plan.Remove {
		r.RemovedHeaders = append(r.RemovedHeaders, RemovedHeader{d.Name, d.Index, fieldValue(d.Value), d.Reason})
	}
	for _, h := range plan.Insert {
		if strings.EqualFold(h.Name, policy.AuthResultsField) {
			r.AuthenticationResults = fieldValue(h.Value)
		} else {
			r.VerdictHeader = &HeaderField{Name: h.Name, Value: fieldValue(h.Value)}
		}
	}
	r.EnvelopeSender = m.SignedSender()
}

// fieldValue is a raw field value as a reader sees it, without the white
// space between the colon and the text.
func fieldValue(raw string) string {
	return strings.TrimLeft(raw, " \t\r\n")
}

// textRemoved lists the fields the daemon deletes, with the reason; a
// message that loses none gets no section.
func (r *Report) textRemoved(t *textWriter) {
	if len(r.RemovedHeaders) == 0 {
		return
	}
	t.line("")
	t.line("Headers the daemon removes")
	for _, h := range r.RemovedHeaders {
		t.line("  %s #%d: %s", h.Name, h.Index, h.Reason)
		lines := strings.ReplaceAll(h.Value, "\r\n", "\n")
		t.line("    %s", strings.ReplaceAll(lines, "\n", "\n    "))
	}
}
