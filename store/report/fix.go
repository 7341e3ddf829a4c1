package report

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
)

// maxMechanisms bounds the SPF mechanisms a fix proposes: a sender with
// more networks publishes its own include.
const maxMechanisms = 3

// Fix is what to change so that a legitimate-looking group's mail is no
// longer refused in enforce mode.
type Fix struct {
	Group string `json:"group"`
	Count int    `json:"count"` // messages enforce mode would stop
	Why   string `json:"why"`
	// Steps are the concrete changes, any one of which is enough; the
	// last is always the senders entry.
	Steps []string `json:"steps"`
	// Entry is the authorised-sender entry for the protected domain's
	// [[domain]] table, ready to paste.
	Entry string `json:"senders_entry"`
}

func fixFor(domain string, g *Group) *Fix {
	f := &Fix{Group: g.Label(), Count: g.WouldStop, Why: g.Why}
	// An aligned signature satisfies the header rule and DMARC, not the
	// envelope rule, which SPF alone decides.
	if g.doors[DoorEnvelope] == 0 {
		f.Steps = append(f.Steps, fmt.Sprintf("ask the sender signing d=%s to sign with d=%s (DKIM aligned with the From domain)", g.DKIM, domain))
	}
	f.Entry = entry(g.DKIM)
	if env, _ := g.Envelope.Top(); sameOrg(env, domain) && g.SPF["pass"] < g.Count {
		m := mechanisms(g.Addresses)
		if m == "" {
			m = mechanisms(g.Networks)
		}
		if m != "" {
			f.Steps = append(f.Steps, fmt.Sprintf("add %s to the SPF record of %s", m, env))
		}
	}
	f.Steps = append(f.Steps, "authorise it as a sender of "+domain+": "+f.Entry)
	return f
}

// entry is the authorised sender proved by a DKIM domain, in the syntax
// of a [[domain]] table's senders key, named after its organisation.
func entry(dkim string) string {
	return fmt.Sprintf("senders = [{ name = %q, dkim = %q }]", dmarc.OrgDomain(dkim), dkim)
}

// mechanisms are the SPF mechanisms (ip4:, ip6:) for a group's
// addresses or networks, the busiest first; "" when there are more than
// maxMechanisms.
func mechanisms(nets Counts) string {
	keys := nets.Sorted()
	if len(keys) == 0 || len(keys) > maxMechanisms {
		return ""
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		a, err := netip.ParseAddr(strings.Split(k, "/")[0])
		if err != nil {
			continue
		}
		kind := "ip4:"
		if a.Is6() {
			kind = "ip6:"
		}
		out = append(out, kind+k)
	}
	return strings.Join(out, " ")
}
