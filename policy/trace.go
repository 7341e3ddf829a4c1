package policy

import (
	"errors"
	"fmt"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/header/received"
)

// findOrigin reads the original client of relayed mail from the Received
// header(s) the relay added (spec: "Two deployments"). Only the relay's
// own headers are trusted: anything below them was written by whoever
// connected to the relay and may be forged. The MTA's own header for this
// hop, should it pass one (Postfix 3.7 and Sendmail 8.17 do not), is skipped.
func (m *Message) findOrigin() {
	rc := m.e.byName[m.Relay].cfg
	values, skip := m.receivedBelowThisHop()
	idx := skip + rc.Hops - 1
	o := &Origin{Index: idx, Class: ClassInternet}
	m.Origin = o
	if idx >= len(values) {
		o.Err = fmt.Sprintf("relay %q should have added %d Received header(s) but only %d are present", rc.Name, rc.Hops, len(values)-skip)
		m.traceError(rc)
		return
	}
	o.Received = values[idx]
	hop, err := received.Parse(values[idx])
	if err != nil {
		o.Err = traceProblem(rc.Name, err)
		m.traceError(rc)
		return
	}
	o.IP, o.Helo, o.Host = hop.IP.Unmap(), hop.Helo, hop.Host
	if prefixesContain(m.e.trusted, o.IP) || prefixesContain(m.e.outbound, o.IP) {
		o.Class = ClassOutbound
	}
}

// receivedBelowThisHop returns the Received values, top first, and how many
// of them to skip: one when the top header is the MTA's own for this hop
// (it names the connected client), which Postfix 3.7 and Sendmail 8.17
// withhold from milters but another MTA might pass.
func (m *Message) receivedBelowThisHop() (values []string, skip int) {
	values = m.headerValues("Received")
	if len(values) > 0 {
		if hop, err := received.Parse(values[0]); err == nil && hop.IP == m.Client.IP.Unmap() {
			skip = 1
		}
	}
	return values, skip
}

// traceProblem says why the relay's header gave no client. An ambiguous
// header is not guessed at: the client chose text (its HELO) that the
// relay copied into the header, and read one way it names a different
// client than read another, so believing either could let the client pick
// its own class.
func traceProblem(relay string, err error) string {
	if errors.Is(err, received.ErrAmbiguous) {
		return fmt.Sprintf("relay %q's Received header is ambiguous: text the client sent (its HELO) could pose as the address the relay wrote: %v", relay, err)
	}
	return fmt.Sprintf("relay %q's Received header cannot be read: %v", relay, err)
}

// traceError applies relay.trace_error. With accept, checks go on without
// an original client: SPF cannot pass, so own-domain mail must still be
// DKIM-aligned to get through.
func (m *Message) traceError(rc *config.RelayConfig) {
	m.fire(RuleRelayTrace, StageHeaders, rc.TraceError, nil, "",
		"cannot trace the message through relay "+quote(rc.Name), m.Origin.Err)
}
