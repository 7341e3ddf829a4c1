package config

import (
	"strings"
	"testing"
)

// TestSendersConfig: entries are decoded and normalised, and the ones
// that would open the domain wide are refused with the reason, file, line
// and key.
func TestSendersConfig(t *testing.T) {
	cfg, err := ParseConfig("t.toml", []byte(`[[domain]]
name = "example.org"
senders = [
  { name = "Newsletter", dkim = "MCSV.Net." },
  { name = "CRM", spf = "servers.crm.example" },
  { name = "Scanner", networks = ["198.51.100.0/24", "2001:db8::/32"] },
]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Domains[0].Senders
	if len(s) != 3 || s[0].DKIM != "mcsv.net" || s[1].SPF != "servers.crm.example" || len(s[2].Networks) != 2 || s[2].Networks[1].String() != "2001:db8::/32" {
		t.Errorf("decoded %+v", s)
	}
	checkRoundTrip(t, cfg)
	for _, c := range []struct{ entries, want string }{
		{`{ name = "A", dkim = "com" }`, "t.toml:4: domain[0].senders[0].dkim: com is a public suffix"},
		{`{ name = "A", spf = "co.uk" }`, "t.toml:4: domain[0].senders[0].spf: co.uk is a public suffix"},
		{`{ name = "A", dkim = "example.org" }`, "domain[0].senders[0].dkim: example.org is the protected domain example.org or below it"},
		{`{ name = "A", spf = "bounces.Example.org" }`, "domain[0].senders[0].spf: bounces.example.org is the protected domain example.org or below it"},
		{`{ name = "A", networks = ["10.0.0.0/8"] }`, "t.toml:4: domain[0].senders[0].networks[0]: 10.0.0.0/8 is too wide for an authorised sender"},
		{`{ name = "A", networks = ["192.0.2.0/24", "0.0.0.0/0"] }`, "domain[0].senders[0].networks[1]: 0.0.0.0/0 is too wide"},
		{`{ name = "A", networks = ["2001:db8::/31"] }`, "domain[0].senders[0].networks[0]: 2001:db8::/31 is too wide"},
		{`{ name = "A", networks = ["300.0.0.0/24"] }`, "domain[0].senders[0].networks[0]: invalid network"},
		{`{ name = "A" }`, "domain[0].senders[0]: no proof: give exactly one of dkim, spf or networks"},
		{`{ name = "A", networks = [] }`, "domain[0].senders[0]: no proof"},
		{`{ name = "A", dkim = "mcsv.net", spf = "mcsv.net" }`, "domain[0].senders[0]: dkim and spf together: give exactly one proof per entry"},
		{`{ dkim = "mcsv.net" }`, "t.toml:4: domain[0].senders[0].name: required"},
		{`{ name = "A\u0007", dkim = "mcsv.net" }`, "domain[0].senders[0].name: \"A\\a\": a name is at most 64 bytes without control characters"},
		{`{ name = "A", dkim = "mcsv.net" },` + "\n" + `{ name = "A", spf = "crm.example" }`, "t.toml:5: domain[0].senders[1].name: duplicate sender name \"A\" (first at line 4)"},
		{`{ name = "A", dkim = "bad..name" }`, "domain[0].senders[0].dkim: invalid domain name"},
		{`{ name = "A", dkmi = "mcsv.net" }`, "domain[0].senders[0].dkmi: unknown key; did you mean \"dkim\"?"},
		{`"mcsv.net"`, "domain[0].senders[0]: expected"},
	} {
		_, err := ParseConfig("t.toml", []byte("[[domain]]\nname = \"example.org\"\nsenders = [\n"+c.entries+"\n]\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.entries, err, c.want)
		}
	}
}

// TestSendersNarrowestAllowed: the widest networks accepted, and an
// entry per domain: a name may repeat across domains.
func TestSendersNarrowestAllowed(t *testing.T) {
	_, err := ParseConfig("t.toml", []byte(`[[domain]]
name = "example.org"
senders = [{ name = "A", networks = ["10.1.0.0/16", "2001:db8::/32"] }]
[[domain]]
name = "example.net"
senders = [{ name = "A", dkim = "example.org" }]
`))
	if err != nil {
		t.Error(err)
	}
}
