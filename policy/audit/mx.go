package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
)

// exposedNames are the names, besides the MX hosts, that typically lead
// to the back-end server and that spammers try when they skip the MX:
// the apex (often the web server), and the usual mail host names.
var exposedNames = []string{"", "mail.", "smtp.", "mx."}

// mx judges the ways mail gets in. A domain behind a relay must publish
// only MX hosts inside the relay set; an edge domain must publish MX
// records at all.
func (da *domainAudit) mx() {
	hosts, ok := da.lookupMX()
	if !ok {
		return
	}
	if da.d.Via == "" {
		da.edgeMX(hosts)
		return
	}
	nets, status := da.e.RelayNetworks(da.d.Via)
	if len(nets) == 0 {
		da.add("mx.relay", Fail, "relay "+quote(da.d.Via)+" has no networks ("+status+"): the MX hosts cannot be checked against it",
			"list the relay's networks, or fix its spf = domains")
		return
	}
	inside := true
	for i := range hosts {
		inside = da.relayMX(&hosts[i], nets) && inside
	}
	if inside && len(hosts) > 0 {
		da.add("mx.relay", Pass, "every MX host is inside relay "+quote(da.d.Via), "")
	}
	da.d.MX = hosts
	da.exposure(hosts, nets)
}

// lookupMX fetches and resolves the MX hosts, sorted by preference. It
// reports false when nothing more can be said (no MX, or DNS trouble).
func (da *domainAudit) lookupMX() ([]MXHost, bool) {
	mxs, err := da.e.DNS().LookupMX(da.ctx, da.d.Name)
	switch {
	case dnsauth.IsTemporary(err):
		da.add("mx", Fail, "could not be checked: "+err.Error(), "run the audit again; if it persists, check the domain's name servers")
		return nil, false
	case err != nil && !dnsauth.IsNotFound(err):
		da.add("mx", Fail, "could not be checked: "+err.Error(), "")
		return nil, false
	case len(mxs) == 0:
		da.add("mx", Fail, "no MX records: senders fall back to the domain's own address (RFC 5321 §5.1), whatever runs there",
			da.mxAdvice())
		return nil, false
	}
	if len(mxs) == 1 && strings.TrimSuffix(mxs[0].Host, ".") == "" {
		da.add("mx", Warn, "null MX (RFC 7505): the domain says it accepts no mail", "remove the null MX if the domain receives mail")
		return nil, false
	}
	hosts := make([]MXHost, 0, len(mxs))
	for _, m := range mxs {
		hosts = append(hosts, MXHost{Host: strings.ToLower(strings.TrimSuffix(m.Host, ".")), Preference: m.Pref,
			Addresses: []string{}, OutsideRelay: []string{}})
	}
	slices.SortStableFunc(hosts, func(a, b MXHost) int {
		if a.Preference != b.Preference {
			return int(a.Preference) - int(b.Preference)
		}
		return strings.Compare(a.Host, b.Host)
	})
	for i := range hosts {
		addrs, err := da.resolve(hosts[i].Host)
		if err != nil {
			da.add("mx", Fail, "MX host "+hosts[i].Host+" could not be resolved: "+err.Error(), "run the audit again")
			return nil, false
		}
		for _, a := range addrs {
			hosts[i].Addresses = append(hosts[i].Addresses, a.String())
		}
	}
	return hosts, true
}

func (da *domainAudit) mxAdvice() string {
	if da.d.Via != "" {
		return "publish MX records that point at relay " + quote(da.d.Via)
	}
	return "publish MX records that point at this server"
}

// edgeMX reports the MX hosts of a domain without a relay.
func (da *domainAudit) edgeMX(hosts []MXHost) {
	da.d.MX = hosts
	var names []string
	for _, h := range hosts {
		names = append(names, fmt.Sprintf("%s (%d)", h.Host, h.Preference))
	}
	da.add("mx", Pass, "MX: "+strings.Join(names, ", "), "")
}

// relayMX checks one MX host of a domain behind a relay. A host outside
// the relay set takes mail that never passes the filter: the classic
// forgotten backup MX.
func (da *domainAudit) relayMX(h *MXHost, nets []netip.Prefix) bool {
	if len(h.Addresses) == 0 {
		da.add("mx.relay", Warn, fmt.Sprintf("MX host %s (preference %d) does not resolve: senders skip it", h.Host, h.Preference),
			"remove it, or give it the relay's addresses")
		return false
	}
	for _, a := range h.Addresses {
		if !containsAddr(nets, netip.MustParseAddr(a)) {
			h.OutsideRelay = append(h.OutsideRelay, a)
		}
	}
	if len(h.OutsideRelay) == 0 {
		return true
	}
	da.add("mx.relay", Fail, fmt.Sprintf("MX host %s (preference %d) resolves to %s, outside relay %s: an unfiltered back door — mail through it never passes the filter",
		h.Host, h.Preference, strings.Join(h.OutsideRelay, ", "), quote(da.d.Via)),
		"point every MX at the relay, or make that host hand its mail to the relay")
	return false
}

// exposure reports the usual names of the domain that resolve outside
// the relay set. Mail sent there reaches the back end only if that
// address is the back end; spoofguard's direct-delivery rule is what
// closes the door then, so the finding says whether it is enforced.
func (da *domainAudit) exposure(hosts []MXHost, nets []netip.Prefix) {
	var checked []string
	found := false
	for _, prefix := range exposedNames {
		name := prefix + da.d.Name
		if slices.ContainsFunc(hosts, func(h MXHost) bool { return h.Host == name }) {
			continue
		}
		checked = append(checked, name)
		addrs, err := da.resolve(name)
		if err != nil {
			da.add("exposure", Warn, name+" could not be resolved: "+err.Error(), "run the audit again")
			found = true
			continue
		}
		var outside []string
		for _, a := range addrs {
			if !containsAddr(nets, a) {
				outside = append(outside, a.String())
			}
		}
		if len(outside) > 0 {
			found = true
			s, rule := da.directDeliveryWords()
			da.add("exposure", s, "direct-delivery exposure: "+name+" resolves to "+strings.Join(outside, ", ")+", outside relay "+quote(da.d.Via)+
				"; if that reaches the back end, spammers can skip the filter there. "+rule,
				"let the back end accept port 25 only from the relay's addresses")
		}
	}
	if !found {
		da.add("exposure", Pass, "none of "+strings.Join(checked, ", ")+" resolves outside relay "+quote(da.d.Via), "")
	}
}

// directDeliveryWords says what spoofguard does with mail that bypassed
// the relay for this domain, and how serious an exposure therefore is.
func (da *domainAudit) directDeliveryWords() (Status, string) {
	d := da.cfg
	mode := d.Mode
	if mode == "" {
		mode = da.auditor.cfg.Milter.Mode
	}
	switch {
	case d.DirectDelivery == config.ActionAccept:
		return Fail, "spoofguard's direct-delivery rule is set to accept (direct_delivery = accept), so such mail gets in"
	case mode == config.ModeReportOnly:
		return Warn, "spoofguard's direct-delivery rule closes this door once enforced (the domain is in report-only mode)"
	}
	return Warn, "spoofguard's direct-delivery rule closes this door (direct_delivery = " + string(d.DirectDelivery) + ")"
}

// resolve returns the addresses of a name; a name that does not exist has
// none.
func (da *domainAudit) resolve(name string) ([]netip.Addr, error) {
	ips, err := da.e.DNS().LookupIPAddr(da.ctx, name)
	if err != nil && !dnsauth.IsNotFound(err) {
		return nil, err
	}
	var out []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip.IP); ok {
			out = append(out, a.Unmap())
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out), nil
}

func containsAddr(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
