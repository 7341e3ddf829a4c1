package config

import (
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// updateGolden rewrites golden files: go test ./config -run Golden -update.
// Other test files of the package should use this flag, not define one.
var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata")

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := ParseConfig("test.toml", []byte(text))
	if err != nil {
		t.Fatalf("ParseConfig:\n%v\ninput:\n%s", err, text)
	}
	return c
}

func TestDefaultsFromEmptyFile(t *testing.T) {
	for _, text := range []string{
		"",
		"\n\n",
		"# only a comment\n   # and another\n",
		"\r\n# CRLF line ends\r\n",
		"[milter]\n[dns]\n[networks]\n[dmarc]\n[allow]\n", // empty tables change nothing
	} {
		c := mustParse(t, text)
		want := Default()
		want.File = "test.toml"
		if !reflect.DeepEqual(c, want) {
			t.Errorf("ParseConfig(%q) =\n%+v\nwant Default():\n%+v", text, c, want)
		}
	}
}

// TestDefaultsAreSafe pins every default: an empty file must protect
// nothing, enforce, and trust only loopback.
func TestDefaultsAreSafe(t *testing.T) {
	c := Default()
	host, _ := os.Hostname()
	checks := []struct {
		key       string
		got, want any
	}{
		{"milter.listen", c.Milter.Listen.String(), "inet:127.0.0.1:8955"},
		{"milter.mode", c.Milter.Mode, ModeEnforce},
		{"milter.socket_mode", c.Milter.SocketMode.FileMode, fs.FileMode(0o660)},
		{"milter.socket_group", c.Milter.SocketGroup, ""},
		{"milter.verdict_header", c.Milter.VerdictHeader, "X-Spoofguard"},
		{"milter.drain_timeout", c.Milter.DrainTimeout.Duration, 30 * time.Second},
		{"milter.max_sessions", c.Milter.MaxSessions, 0},
		{"log.level", c.Log.Level.Level, slog.LevelInfo},
		{"log.format", c.Log.Format, "text"},
		{"log.output", c.Log.Output, "stderr"},
		{"metrics.listen", c.Metrics.Listen, ""},
		{"dns.servers", len(c.DNS.Servers), 0},
		{"dns.timeout", c.DNS.Timeout.Duration, 2 * time.Second},
		{"dns.attempts", c.DNS.Attempts, 2},
		{"dns.cache_size", c.DNS.CacheSize, 20000},
		{"dns.on_temperror", c.DNS.OnTemperror, ActionTempFail},
		{"networks.trusted", stringsOf(c.Networks.Trusted), []string{"127.0.0.0/8", "::1/128"}},
		{"networks.outbound", len(c.Networks.Outbound), 0},
		{"relay", len(c.Relays), 0},
		{"domain", len(c.Domains), 0},
		{"dmarc.enabled", c.DMARC.On(), true},
		{"dmarc.on_reject", c.DMARC.OnReject, ActionReject},
		{"dmarc.on_quarantine", c.DMARC.OnQuarantine, ActionQuarantine},
		{"spf.on_fail", c.SPF.OnFail, ActionAccept},
		{"dkim.max_signatures", c.DKIM.MaxSignatures, 8},
		{"allow", len(c.Allow.Networks) + len(c.Allow.SenderDomains) + len(c.Allow.DKIMDomains), 0},
		{"file", c.File, ""},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("default %s = %#v, want %#v", ch.key, ch.got, ch.want)
		}
	}
	if host != "" && checkAuthservID(host) == nil && c.Milter.AuthservID != host {
		t.Errorf("default authserv_id = %q, want the host name %q", c.Milter.AuthservID, host)
	}
	if c.Domain("example.org") != nil {
		t.Error("the default configuration protects a domain")
	}
	if Default().Networks.Trusted[0] = (Network{}); c.Networks.Trusted[0] == (Network{}) {
		t.Error("Default shares its slices between calls")
	}
}

func stringsOf[T interface{ String() string }](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// TestParseValid covers each feature of a valid file: the value read,
// its normalisation, and the defaults of tables that are present.
func TestParseValid(t *testing.T) {
	test := func(name, text string, check func(t *testing.T, c *Config)) {
		t.Run(name, func(t *testing.T) { check(t, mustParse(t, text)) })
	}
	eq := func(t *testing.T, what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}

	test("listen inet", `milter.listen = "inet:localhost:10025"`, func(t *testing.T, c *Config) {
		l := c.Milter.Listen
		eq(t, "listen", []string{l.Network, l.Address}, []string{"tcp4", "localhost:10025"})
	})
	test("listen inet6", "[milter]\nlisten = \"inet6:[::1]:8955\"", func(t *testing.T, c *Config) {
		l := c.Milter.Listen
		eq(t, "listen", []string{l.Network, l.Address}, []string{"tcp6", "[::1]:8955"})
	})
	test("listen unix", `
[milter]
listen = "unix:/var/spool/postfix/spoofguard/milter.sock"
socket_mode = "0600"
socket_group = "postfix"`, func(t *testing.T, c *Config) {
		l := c.Milter.Listen
		eq(t, "listen", []string{l.Network, l.Address}, []string{"unix", "/var/spool/postfix/spoofguard/milter.sock"})
		eq(t, "socket permissions", c.Milter.SocketMode.FileMode, fs.FileMode(0o600))
		eq(t, "socket group", c.Milter.SocketGroup, "postfix")
	})
	test("milter values", `
[milter]
authserv_id = "mx1.example.org"
mode = "report-only"
verdict_header = "X-Spoof-Verdict"
drain_timeout = "1m30s"`, func(t *testing.T, c *Config) {
		eq(t, "authserv_id", c.Milter.AuthservID, "mx1.example.org")
		eq(t, "mode", c.Milter.Mode, ModeReportOnly)
		eq(t, "verdict_header", c.Milter.VerdictHeader, "X-Spoof-Verdict")
		eq(t, "drain_timeout", c.Milter.DrainTimeout.Duration, 90*time.Second)
	})
	test("empty authserv_id is the host name", "[milter]\nauthserv_id = \"\"", func(t *testing.T, c *Config) {
		eq(t, "authserv_id", c.Milter.AuthservID, Default().Milter.AuthservID)
	})
	test("log and metrics", `
log.level = "debug"
log.format = "json"
log.output = "syslog"
metrics.listen = "[::1]:9891"`, func(t *testing.T, c *Config) {
		eq(t, "log", c.Log, LogConfig{Level: LogLevel{slog.LevelDebug}, Format: "json", Output: "syslog"})
		eq(t, "metrics", c.Metrics.Listen, "[::1]:9891")
	})
	test("dns servers normalised to ip:port", `
[dns]
servers = ["192.0.2.53", "127.0.0.1:5353", "2001:db8::53", "[2001:db8::54]:5353"]
timeout = "500ms"
attempts = 3
cache_size = 0
on_temperror = "accept"`, func(t *testing.T, c *Config) {
		eq(t, "servers", c.DNS.Servers, []string{"192.0.2.53:53", "127.0.0.1:5353", "[2001:db8::53]:53", "[2001:db8::54]:5353"})
		eq(t, "timeout", c.DNS.Timeout.Duration, 500*time.Millisecond)
		eq(t, "attempts", c.DNS.Attempts, 3)
		eq(t, "cache_size", c.DNS.CacheSize, 0)
		eq(t, "on_temperror", c.DNS.OnTemperror, ActionAccept)
	})
	test("networks: bare addresses are hosts", `
[networks]
trusted = ["127.0.0.1", "::1"]
outbound = ["192.0.2.0/28", "2001:db8:1::/48"]`, func(t *testing.T, c *Config) {
		eq(t, "trusted", stringsOf(c.Networks.Trusted), []string{"127.0.0.1/32", "::1/128"})
		eq(t, "outbound", stringsOf(c.Networks.Outbound), []string{"192.0.2.0/28", "2001:db8:1::/48"})
	})
	test("no trusted networks at all", "networks.trusted = []", func(t *testing.T, c *Config) {
		eq(t, "trusted", len(c.Networks.Trusted), 0)
	})
	test("relay defaults and normalised spf names", `
[[relay]]
name = "filter"
spf = ["_SPF.Filter.Example."]

[[relay]]
name = "backup-mx"
networks = ["203.0.113.7"]
hops = 2
trace_error = "tempfail"`, func(t *testing.T, c *Config) {
		eq(t, "relays", c.Relays, []RelayConfig{
			{Name: "filter", SPF: []string{"_spf.filter.example"}, Hops: 1, TraceError: ActionAccept},
			{Name: "backup-mx", Networks: []Network{{netip.MustParsePrefix("203.0.113.7/32")}}, Hops: 2, TraceError: ActionTempFail},
		})
		eq(t, "Relay(backup-mx)", c.Relay("backup-mx"), &c.Relays[1])
		eq(t, "Relay(none)", c.Relay("none"), (*RelayConfig)(nil))
	})
	test("relays as inline tables", `relay = [{name = "a", networks = ["192.0.2.1"]}, {name = "b", spf = ["b.example"]}]`,
		func(t *testing.T, c *Config) {
			eq(t, "names", []string{c.Relays[0].Name, c.Relays[1].Name}, []string{"a", "b"})
			eq(t, "hops", c.Relays[1].Hops, 1)
		})
	test("domain defaults and normalisation", `
[[relay]]
name = "filter"
networks = ["198.51.100.0/24"]

[[domain]]
name = "Example.ORG."
via = "filter"

[[domain]]
name = "Bücher.example"
subdomains = false
mode = "report-only"
direct_delivery = "quarantine"
envelope_forgery = "accept"
header_forgery = "tempfail"`, func(t *testing.T, c *Config) {
		d0, d1 := c.Domains[0], c.Domains[1]
		eq(t, "name 0", d0.Name, "example.org")
		eq(t, "subdomains 0", d0.IncludesSubdomains(), true)
		eq(t, "subdomains 0 filled in", d0.Subdomains != nil && *d0.Subdomains, true)
		eq(t, "mode 0 inherits", d0.Mode, Mode(""))
		eq(t, "actions 0", []Action{d0.DirectDelivery, d0.EnvelopeForgery, d0.HeaderForgery},
			[]Action{ActionReject, ActionReject, ActionReject})
		eq(t, "name 1", d1.Name, "xn--bcher-kva.example")
		eq(t, "subdomains 1", d1.IncludesSubdomains(), false)
		eq(t, "mode 1", d1.Mode, ModeReportOnly)
		eq(t, "actions 1", []Action{d1.DirectDelivery, d1.EnvelopeForgery, d1.HeaderForgery},
			[]Action{ActionQuarantine, ActionAccept, ActionTempFail})
	})
	test("dmarc, spf, dkim", `
dmarc.enabled = false
dmarc.on_reject = "quarantine"
dmarc.on_quarantine = "accept"
spf.on_fail = "reject"
dkim.max_signatures = 64`, func(t *testing.T, c *Config) {
		eq(t, "dmarc on", c.DMARC.On(), false)
		eq(t, "dmarc actions", []Action{c.DMARC.OnReject, c.DMARC.OnQuarantine}, []Action{ActionQuarantine, ActionAccept})
		eq(t, "spf", c.SPF.OnFail, ActionReject)
		eq(t, "dkim", c.DKIM.MaxSignatures, 64)
	})
	test("allow-lists beside protected domains", `
[[domain]]
name = "example.org"
subdomains = false

[networks]
trusted = ["127.0.0.0/8"]

[allow]
networks = ["127.0.0.0/8", "192.0.2.0/24"]      # overlapping trusted is fine
sender_domains = ["Lists.Example.ORG", "example.net"] # not protected: subdomains = false
dkim_domains = ["forwarder.example"]`, func(t *testing.T, c *Config) {
		eq(t, "networks", stringsOf(c.Allow.Networks), []string{"127.0.0.0/8", "192.0.2.0/24"})
		eq(t, "sender_domains", c.Allow.SenderDomains, []string{"lists.example.org", "example.net"})
		eq(t, "dkim_domains", c.Allow.DKIMDomains, []string{"forwarder.example"})
	})
	test("quoted and dotted keys", `"milter".'mode' = "report-only"`, func(t *testing.T, c *Config) {
		eq(t, "mode", c.Milter.Mode, ModeReportOnly)
	})
	test("relay beside narrowed trusted networks", `
networks.trusted = ["127.0.0.1/32"]
[[relay]]
name = "local-filter"
networks = ["127.0.0.10"]`, func(t *testing.T, c *Config) {
		eq(t, "relay", c.Relays[0].Networks[0].String(), "127.0.0.10/32")
	})
}

func TestDomainLookup(t *testing.T) {
	c := mustParse(t, `
[[domain]]
name = "example.org"

[[domain]]
name = "mail.example.org"
subdomains = false
mode = "report-only"

[[domain]]
name = "bücher.example"

[[domain]]
name = "example.net"
subdomains = false
`)
	test := func(name, want string) {
		t.Helper()
		got := ""
		if d := c.Domain(name); d != nil {
			got = d.Name
		}
		if got != want {
			t.Errorf("Domain(%q) = %q, want %q", name, got, want)
		}
	}
	test("example.org", "example.org")
	test("EXAMPLE.org.", "example.org")
	test("a.b.example.org", "example.org")
	test("mail.example.org", "mail.example.org") // the longest name wins
	test("x.mail.example.org", "example.org")    // mail. excludes subdomains; example.org covers it
	test("notexample.org", "")                   // a suffix, not a subdomain
	test("example.org.evil.test", "")
	test("example.net", "example.net")
	test("sub.example.net", "") // subdomains = false
	test("Bücher.example", "xn--bcher-kva.example")
	test("www.xn--bcher-kva.example", "xn--bcher-kva.example")
	test("", "")
	test(".", "")
	test("org", "")
	test("bad\x00name.example.org", "example.org") // junk in front of a protected name is still protected
	test("BAD\x00NAME.EXAMPLE.ORG", "example.org")
	test("example.org..", "example.org")
	if d := c.Domain("mail.example.org"); d.Mode != ModeReportOnly {
		t.Errorf("Domain(mail.example.org) is not the configured entry: %+v", d)
	}
}

// TestConfigKeys checks the list against the contract: every key of the
// specification's example must be accepted, and every key accepted must
// appear in the shipped example file.
func TestConfigKeys(t *testing.T) {
	keys := ConfigKeys()
	contract := []string{
		"milter.listen", "milter.authserv_id", "milter.mode",
		"log.level", "log.format", "metrics.listen",
		"dns.servers", "dns.timeout", "dns.on_temperror",
		"networks.trusted", "networks.outbound",
		"relay.name", "relay.networks", "relay.spf", "relay.hops",
		"domain.name", "domain.subdomains", "domain.via", "domain.mode",
		"domain.direct_delivery", "domain.envelope_forgery", "domain.header_forgery",
		"dmarc.enabled", "dmarc.on_reject", "dmarc.on_quarantine",
		"spf.on_fail", "allow.networks", "allow.sender_domains", "allow.dkim_domains",
	}
	for _, k := range contract {
		if !slices.Contains(keys, k) {
			t.Errorf("contract key %s is missing from ConfigKeys()", k)
		}
	}
	if len(keys) != len(slices.Compact(slices.Sorted(slices.Values(keys)))) {
		t.Errorf("ConfigKeys() has duplicates: %v", keys)
	}

	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "spoofguard.toml"))
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for path := range positions(data) {
		written[strings.NewReplacer("[0]", "").Replace(path)] = true
	}
	for _, k := range keys {
		if !written[k] {
			t.Errorf("examples/spoofguard.toml does not show key %s", k)
		}
	}
}

// repoRoot is the module root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := dnstest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*.toml found")
	}
	for _, f := range files {
		c, err := LoadConfig(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if c.File != f {
			t.Errorf("%s: Config.File = %q", f, c.File)
		}
	}
}

// TestExampleContent pins what the daemon's `make run` relies on.
func TestExampleContent(t *testing.T) {
	c, err := LoadConfig(filepath.Join(repoRoot(t), "examples", "spoofguard.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Domain("example.org")
	switch {
	case c.Milter.Listen.String() != "inet:127.0.0.1:8955":
		t.Errorf("listen = %q", c.Milter.Listen)
	case c.Milter.Mode != ModeEnforce:
		t.Errorf("mode = %q", c.Milter.Mode)
	case len(c.DNS.Servers) != 0:
		t.Errorf("dns.servers = %q", c.DNS.Servers)
	case d == nil || d.Via != "filter":
		t.Errorf("example.org is not protected behind filter: %+v", d)
	case c.Relay("filter") == nil || stringsOf(c.Relay("filter").Networks)[0] != "198.51.100.0/24":
		t.Errorf("relay filter = %+v", c.Relay("filter"))
	}
}

// TestRoundTrip writes a parsed configuration back as TOML and parses it
// again: normalised values must be stable, and the types must marshal in
// the form they unmarshal from.
func TestRoundTrip(t *testing.T) {
	c, err := LoadConfig(filepath.Join(repoRoot(t), "examples", "spoofguard.toml"))
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, c)
}

func checkRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	out, err := toml.Marshal(c)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	again, err := ParseConfig(c.File, out)
	if err != nil {
		t.Fatalf("re-parsing the marshalled config: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(c, again) {
		t.Fatalf("round trip changed the config:\nbefore %+v\nafter  %+v\nTOML:\n%s", c, again, out)
	}
}

func ExampleParseConfig() {
	_, err := ParseConfig("spoofguard.toml", []byte(`
[[domain]]
name = "example.org"
via = "filter"

[dns]
timeout = "2x"
`))
	fmt.Println(err)
	// Output:
	// spoofguard.toml:4: domain[0].via: no [[relay]] is named "filter" (none is configured); add one, or set via = "" for a domain whose MX is this server
	// spoofguard.toml:7: dns.timeout: invalid duration "2x": want a number with a unit, such as "2s" or "500ms"
}

func ExampleConfig_Domain() {
	c, err := ParseConfig("spoofguard.toml", []byte(`
[[domain]]
name = "Example.ORG"

[[domain]]
name = "lists.example.org"
subdomains = false
mode = "report-only"
`))
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"example.org", "www.Example.org.", "lists.example.org", "a.lists.example.org", "example.net"} {
		if d := c.Domain(name); d != nil {
			fmt.Printf("%s: protected as %s (mode %q)\n", name, d.Name, d.Mode)
		} else {
			fmt.Printf("%s: not protected\n", name)
		}
	}
	// Output:
	// example.org: protected as example.org (mode "")
	// www.Example.org.: protected as example.org (mode "")
	// lists.example.org: protected as lists.example.org (mode "report-only")
	// a.lists.example.org: protected as example.org (mode "")
	// example.net: not protected
}

// dns.cache_size 0 turns the cache off; the resolver's own 0 means its
// default size, so the daemon and the command-line tools must both go
// through DNSConfig.ResolverConfig.
func TestDNSResolverConfig(t *testing.T) {
	c := DNSConfig{Servers: []string{"192.0.2.53:53"}, Timeout: Duration{2 * time.Second}, Attempts: 3}
	if got := c.ResolverConfig(); got.CacheSize >= 0 || got.Timeout != 2*time.Second || got.Attempts != 3 || len(got.Servers) != 1 {
		t.Errorf("cache_size 0: %+v, want the cache off (negative size) and the other settings kept", got)
	}
	c.CacheSize = 500
	if got := c.ResolverConfig().CacheSize; got != 500 {
		t.Errorf("cache_size 500: resolver size %d", got)
	}
}
