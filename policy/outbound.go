package policy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/spoofguard/spoofguard/header/received"
)

// An own outbound server may send as the protected domains unchecked. If
// it also takes mail from the Internet (an "insecure trusted relay"),
// forged own-domain mail relayed through it would get the same pass: the
// fourth door of the product's problem statement. The server's own
// Received header tells where it took the message from, so a message it
// took from an unauthenticated client outside the organisation's networks
// is judged as that client's, exactly as mail through a relay.

// lookBehindOutbound reads the top Received header an outbound client
// wrote and, when it shows an Internet client, makes that client the one
// the sender checks judge. It reports whether it did.
func (m *Message) lookBehindOutbound() bool {
	values, skip := m.receivedBelowThisHop()
	if skip >= len(values) {
		return false // the server wrote no header: its own message
	}
	hop, err := received.Parse(values[skip])
	if errors.Is(err, received.ErrNoFrom) {
		return false // local submission on the server ("by host (Postfix, from userid 0)")
	}
	o := &Origin{Index: skip, Class: ClassInternet, Received: values[skip]}
	if err != nil {
		// The client's HELO text is in that header: a header made
		// unreadable must not keep the pass.
		o.Err = fmt.Sprintf("the Received header outbound server %s wrote cannot be read: %v", m.Client.IP, err)
	} else {
		o.IP, o.Helo, o.Host = hop.IP.Unmap(), hop.Helo, hop.Host
		if hop.Authenticated || m.e.ownNetwork(o.IP) {
			return false
		}
	}
	m.Origin = o
	m.ClassReason += "; " + m.behindWords()
	return true
}

// ownNetwork reports whether ip is in any configured network: trusted,
// outbound, internal or a relay's.
func (e *Engine) ownNetwork(ip netip.Addr) bool {
	if prefixesContain(e.trusted, ip) || prefixesContain(e.outbound, ip) || prefixesContain(e.internal, ip) {
		return true
	}
	for _, rs := range e.relays {
		if in, _ := rs.contains(ip); in {
			return true
		}
	}
	return false
}

// behindWords says why an outbound client's message is judged as another
// client's.
func (m *Message) behindWords() string {
	if o := m.Origin; o.Err != "" {
		return o.Err + ", so the message is judged without an original client"
	}
	return fmt.Sprintf("its Received header shows it took the message from %s (HELO %s) without SMTP AUTH, outside every configured network; judged as that client",
		m.Origin.IP, orNull(m.Origin.Helo))
}

// checkBehindOutbound runs the envelope rules again, on the client behind
// an outbound server, once the headers are in.
func (m *Message) checkBehindOutbound(ctx context.Context) {
	if m.Class == ClassOutbound && m.Origin == nil && m.lookBehindOutbound() {
		m.checkEnvelope(ctx, StageHeaders)
	}
}
