package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spoofguard/spoofguard/header/received"
)

// A filtering service passes mail through a number of its own MTAs that
// varies from message to message (an inbound MX, a scanner, an outbound
// stage), so a fixed count of Received headers picks the wrong one. A
// relay that names the hosts its MTAs write after "by" (by_names) is
// followed instead: from the top, each Received header must be the
// relay's (its by name matches), and while the client it names is the
// relay's own, the next header down must be the relay's too. The first
// client outside the relay is the original client.
//
// Only the relay decides where the walk stops. The client of each of its
// headers is the address its MTA wrote (package received refuses a header
// whose from clause could be read as naming another address), and the
// walk goes on past a client only when that address is the relay's: an
// Internet client's HELO can neither add a hop (its address is outside
// the relay) nor remove one (it cannot change the address the relay
// wrote). Headers below the original client's are never read.

// maxRelayWalk bounds the relay's own hops, as relay.hops does: no
// filtering service passes mail through more, and a longer chain of
// headers in the relay's networks is a loop or a misconfiguration.
const maxRelayWalk = 10

// walkStep is where the relay walk stopped: the original client's hop,
// or why there is none.
type walkStep struct {
	index int // the header the original client was read from
	hop   received.Hop
	err   string
}

// relayWalk follows the relay's own Received headers down from values[top].
// byNames are the relay's host-name patterns, own reports whether a
// client address is one of the relay's MTAs.
func relayWalk(values []string, top int, relay string, byNames []string, own func(netip.Addr) bool) walkStep {
	for i := top; ; i++ {
		if i >= len(values) {
			return walkStep{index: i, err: endOfChainWords(relay, i-top)}
		}
		if i-top >= maxRelayWalk {
			return walkStep{index: i, err: fmt.Sprintf("relay %q's Received headers name more than %d of its own hosts in a row", relay, maxRelayWalk)}
		}
		hop, err := received.Parse(values[i])
		if err != nil {
			return walkStep{index: i, err: traceProblem(relay, err)}
		}
		if !byNameMatches(hop.By, byNames) {
			return walkStep{index: i, err: notRelayWords(relay, hop.By, i-top)}
		}
		if !own(hop.IP) {
			return walkStep{index: i, hop: hop}
		}
	}
}

func endOfChainWords(relay string, n int) string {
	if n == 0 {
		return fmt.Sprintf("relay %q added no Received header", relay)
	}
	return fmt.Sprintf("relay %q's %d Received header(s) name only its own hosts: no original client", relay, n)
}

// notRelayWords says why a header stops the walk without a client: the
// relay did not write it, so nothing it says can be believed.
func notRelayWords(relay, by string, n int) string {
	if n == 0 {
		return fmt.Sprintf("the top Received header was written by %q, which is not one of relay %q's by_names", by, relay)
	}
	return fmt.Sprintf("relay %q's hop %d took the message from one of its own hosts, but the header below was written by %q, which is not one of its by_names", relay, n, by)
}

// byNameMatches reports whether host (a by-domain) matches one of the
// patterns: a host name, or "*.suffix" for any name below suffix (not
// suffix itself, as with DNS wildcards, RFC 4592 §2.1.1).
func byNameMatches(host string, patterns []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSuffix(p, "."))
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// relayOwnClient reports whether a client named in one of the relay's
// headers is one of the relay's MTAs: inside its networks, or localhost
// (127.0.0.1 or ::1: a content filter on the relay's host handing the
// message back to its MTA, as amavis and rspamd's proxy do, "from
// localhost (localhost [127.0.0.1])"). The relay wrote that address itself
// from the connection, so no Internet client can take it. The rest of
// 127.0.0.0/8 is not taken for the relay's own: nothing in that
// convention uses it.
func (rs *relaySet) relayOwnClient(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip == localhost4 || ip == netip.IPv6Loopback() {
		return true
	}
	in, _ := rs.contains(ip)
	return in
}

var localhost4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
