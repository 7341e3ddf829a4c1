package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// walkHeader is a Received value as a Postfix of the relay writes it.
func walkHeader(from, by string) string {
	return "from " + from + "\r\n\tby " + by + " (Postfix) with ESMTP id 4ABC123\r\n\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:01 +0000"
}

func TestRelayWalk(t *testing.T) {
	relayNet := netip.MustParsePrefix("198.51.100.0/24")
	own := (&relaySet{cfg: &config.RelayConfig{}, static: []netip.Prefix{relayNet}}).relayOwnClient
	names := []string{"*.filter.example.net", "edge.filter2.example"}
	inner := walkHeader("mx1.filter.example.net (mx1.filter.example.net [198.51.100.7])", "scan.filter.example.net")
	loop := walkHeader("localhost (localhost [127.0.0.1])", "mx1.filter.example.net")
	origin := walkHeader("mail.partner.example (mail.partner.example [192.0.2.30])", "mx1.filter.example.net")
	forgedBelow := walkHeader("out.example.org (out.example.org [203.0.113.10])", "mx1.filter.example.net")
	test := func(name string, top int, values []string, wantIndex int, wantIP, wantErr string) {
		t.Helper()
		got := relayWalk(values, top, "filter", names, own)
		switch {
		case wantErr != "" && !strings.Contains(got.err, wantErr):
			t.Errorf("%s: err = %q, want it to say %q", name, got.err, wantErr)
		case wantErr == "" && (got.err != "" || got.hop.IP.String() != wantIP || got.index != wantIndex):
			t.Errorf("%s: got %s at %d (err %q), want %s at %d", name, got.hop.IP, got.index, got.err, wantIP, wantIndex)
		}
	}
	test("one hop", 0, []string{origin, forgedBelow}, 0, "192.0.2.30", "")
	test("two hops", 0, []string{inner, origin, forgedBelow}, 1, "192.0.2.30", "")
	test("three hops through a local content filter", 0, []string{inner, loop, origin, forgedBelow}, 2, "192.0.2.30", "")
	test("the MTA's own header is skipped", 1, []string{"ignored", inner, origin}, 2, "192.0.2.30", "")
	test("by names ignore case and the final dot", 0, []string{walkHeader("x (x [192.0.2.30])", "MX9.Filter.Example.NET.")}, 0, "192.0.2.30", "")
	test("exact by name", 0, []string{walkHeader("x (x [192.0.2.30])", "edge.filter2.example")}, 0, "192.0.2.30", "")

	test("top header not the relay's", 0, []string{walkHeader("x (x [192.0.2.30])", "mx.other.example"), origin}, 0, "", "not one of relay \"filter\"'s by_names")
	test("the wildcard's own name is not below it", 0, []string{walkHeader("x (x [192.0.2.30])", "filter.example.net")}, 0, "", "by_names")
	test("a look-alike suffix is not the relay", 0, []string{walkHeader("x (x [192.0.2.30])", "evilfilter.example.net")}, 0, "", "by_names")
	test("the relay's chain breaks off", 0, []string{inner, walkHeader("x (x [192.0.2.30])", "mx.other.example")}, 0, "", "header below was written by")
	test("no header at all", 0, nil, 0, "", "added no Received header")
	test("only the relay's own hosts", 0, []string{inner, loop}, 0, "", "name only its own hosts")
	test("an unreadable header of the relay", 0, []string{inner, "garbage"}, 0, "", "cannot be read")

	var long []string
	for range maxRelayWalk + 1 {
		long = append(long, inner)
	}
	test("another loopback address is not the relay's", 0, []string{walkHeader("x (x [127.0.0.66])", "mx1.filter.example.net")}, 0, "127.0.0.66", "")
	test("IPv6 localhost is", 0, []string{walkHeader("localhost (localhost [IPv6:::1])", "scan.filter.example.net"), origin}, 1, "192.0.2.30", "")
	test("a loop inside the relay", 0, append(long, origin), 0, "", "more than 10")
}

// TestRelayWalkHostileHelo: the client's HELO, as a Postfix of the relay
// writes it or as an MTA that keeps it verbatim would, neither extends the
// walk (an address of the relay or the loopback in the HELO) nor ends it
// early on an address the attacker chose.
func TestRelayWalkHostileHelo(t *testing.T) {
	relayNet := netip.MustParsePrefix("198.51.100.0/24")
	own := (&relaySet{cfg: &config.RelayConfig{}, static: []netip.Prefix{relayNet}}).relayOwnClient
	names := []string{"*.filter.example.net"}
	forgedBelow := walkHeader("out.example.org (out.example.org [203.0.113.10])", "mx1.filter.example.net")
	for _, from := range []string{
		"x?[198.51.100.7] (unknown [192.0.2.66])",
		"x?[127.0.0.1] (unknown [192.0.2.66])",
		"x??mx1.filter.example.net?[198.51.100.7]??by?mx2.filter.example.net (unknown [192.0.2.66])",
		"[203.0.113.10] (unknown [192.0.2.66])",
	} {
		got := relayWalk([]string{walkHeader(from, "mx1.filter.example.net"), forgedBelow}, 0, "filter", names, own)
		if got.err != "" || got.hop.IP.String() != "192.0.2.66" {
			t.Errorf("HELO as Postfix writes it %q: got %s (err %q), want the real client 192.0.2.66", from, got.hop.IP, got.err)
		}
	}
	for _, from := range []string{
		"x [198.51.100.7] (unknown [192.0.2.66])",
		"x (mx1.filter.example.net [198.51.100.7]) (unknown [192.0.2.66])",
		"x (out.example.org [203.0.113.10]) by mx1.filter.example.net with ESMTP id Q; Mon (unknown [192.0.2.66])",
	} {
		got := relayWalk([]string{walkHeader(from, "mx1.filter.example.net"), forgedBelow}, 0, "filter", names, own)
		if got.err == "" {
			t.Errorf("HELO kept verbatim %q: got client %s, want a trace error", from, got.hop.IP)
		}
	}
}

func TestByNameMatches(t *testing.T) {
	for _, c := range []struct {
		host     string
		patterns []string
		want     bool
	}{
		{"mx1.pphosted.com", []string{"*.pphosted.com"}, true},
		{"a.b.pphosted.com", []string{"*.pphosted.com"}, true},
		{"pphosted.com", []string{"*.pphosted.com"}, false},
		{"xpphosted.com", []string{"*.pphosted.com"}, false},
		{"mx1.pphosted.com", []string{"mx1.pphosted.com"}, true},
		{"mx2.pphosted.com", []string{"mx1.pphosted.com"}, false},
		{"", []string{"*.pphosted.com"}, false},
		{"MX1.PPHOSTED.COM.", []string{"*.pphosted.com."}, true},
		{"mx1.pphosted.com", nil, false},
	} {
		if got := byNameMatches(c.host, c.patterns); got != c.want {
			t.Errorf("byNameMatches(%q, %q) = %v, want %v", c.host, c.patterns, got, c.want)
		}
	}
}
