package policy

import "net/netip"

// ProtectedName returns the name of the protected domain that covers
// name (itself or a parent, as configured), or "" when none does. The
// decision store files each record under it.
func (e *Engine) ProtectedName(name string) string {
	if d := e.protected(name); d != nil {
		return d.Name
	}
	return ""
}

// Evaluated is the client the rules judged: the original client behind a
// relay (an invalid address when it could not be found), else the
// connecting client.
func (m *Message) Evaluated() (ip netip.Addr, helo string, class Class) { return m.evaluated() }
