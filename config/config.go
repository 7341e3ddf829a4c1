package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Action is what a rule does with a message when it fires.
type Action string

// The four actions a rule can take. The final verdict of a message is the
// most severe one: reject > tempfail > quarantine > accept.
const (
	ActionAccept     Action = "accept"
	ActionReject     Action = "reject"
	ActionQuarantine Action = "quarantine" // Postfix: the hold queue
	ActionTempFail   Action = "tempfail"
)

// Refuses reports whether the action ends the SMTP transaction (or, at
// RCPT TO, refuses the recipient): reject and tempfail do, accept and
// quarantine let the message go on.
func (a Action) Refuses() bool { return a == ActionReject || a == ActionTempFail }

// Severity orders the actions for "the most severe verdict wins":
// reject 3, tempfail 2, quarantine 1, accept (or anything else) 0.
func (a Action) Severity() int {
	switch a {
	case ActionReject:
		return 3
	case ActionTempFail:
		return 2
	case ActionQuarantine:
		return 1
	}
	return 0
}

// Mode says whether verdicts are enforced or only logged, counted and
// written into the verdict header (the way to roll a policy out safely).
type Mode string

// The two modes, globally (milter.mode) or per protected domain.
const (
	ModeEnforce    Mode = "enforce"
	ModeReportOnly Mode = "report-only"
)

// Duration is a time.Duration written as a Go duration string ("2s",
// "500ms") in the file.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a number with a unit, such as \"2s\" or \"500ms\"", quote(string(text)))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in the form UnmarshalText reads.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Network is an IP prefix. In the file it is a CIDR ("192.0.2.0/24") or a
// bare address, which means that single host (/32 or /128).
type Network struct{ netip.Prefix }

// UnmarshalText parses a CIDR prefix or a bare address. Prefixes with host
// bits set, zones and IPv4-mapped IPv6 forms are refused: each is more
// likely a typo than an intent, and the last would never match a client
// address the MTA reports in IPv4 form.
func (n *Network) UnmarshalText(text []byte) error {
	s := string(text)
	p, err := parseNetwork(s)
	if err != nil {
		return fmt.Errorf("invalid network %s: %v", quote(s), err)
	}
	n.Prefix = p
	return nil
}

// MarshalText writes the prefix in CIDR form.
func (n Network) MarshalText() ([]byte, error) {
	return []byte(n.Prefix.String()), nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errors.New("zones are not allowed")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, errors.New("not a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, errors.New("write IPv4 networks in IPv4 form (the MTA reports IPv4 clients that way)")
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", m)
	}
	return p, nil
}

// Config is a loaded and validated configuration. Values from ParseConfig
// are normalised (domain names lower-case A-labels without a trailing dot,
// DNS servers as ip:port) and every default is filled in.
type Config struct {
	File     string         `toml:"-"` // path it was loaded from ("" for defaults)
	Milter   MilterConfig   `toml:"milter"`
	Log      LogConfig      `toml:"log"`
	Metrics  MetricsConfig  `toml:"metrics"`
	DNS      DNSConfig      `toml:"dns"`
	Networks NetworksConfig `toml:"networks"`
	Relays   []RelayConfig  `toml:"relay"`
	Domains  []DomainConfig `toml:"domain"`
	DMARC    DMARCConfig    `toml:"dmarc"`
	SPF      SPFConfig      `toml:"spf"`
	DKIM     DKIMConfig     `toml:"dkim"`
	Allow    AllowConfig    `toml:"allow"`
	Store    StoreConfig    `toml:"store"`
	// Backscatter is BATV: signing own envelope senders, refusing bounces
	// of mail never sent (backscatter.go).
	Backscatter BackscatterConfig `toml:"backscatter"`
}

// MilterConfig is the [milter] table: how the MTA reaches the daemon and
// what the daemon writes into messages.
type MilterConfig struct {
	// Listen is "inet:HOST:PORT", "inet6:[ADDR]:PORT" or "unix:/ABS/PATH"
	// (Postfix milter syntax), or libmilter's spelling of the same
	// (ParseListen). Port 0 picks a free port (useful in tests only, as
	// the MTA cannot know it).
	Listen        Listen   `toml:"listen"`
	AuthservID    string   `toml:"authserv_id"`    // RFC 8601 authserv-id; "" in the file: the host name
	Mode          Mode     `toml:"mode"`           // enforce or report-only
	SocketMode    FileMode `toml:"socket_mode"`    // unix socket permissions, an octal string in the file
	SocketGroup   string   `toml:"socket_group"`   // group to chown the unix socket to; "" leaves it unchanged
	VerdictHeader string   `toml:"verdict_header"` // header field carrying the verdict and the deciding rule
	DrainTimeout  Duration `toml:"drain_timeout"`  // on SIGTERM, how long sessions in progress may finish
	MaxSessions   int      `toml:"max_sessions"`   // MTA connections served at once; 0: the daemon's built-in bound
}

// LogConfig is the [log] table.
type LogConfig struct {
	Level  LogLevel `toml:"level"`  // debug, info, warn or error
	Format string   `toml:"format"` // text or json
	Output string   `toml:"output"` // stderr (the journal under systemd) or syslog (facility mail)
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	Listen string `toml:"listen"` // "" is off; otherwise host:port for the Prometheus endpoint
}

// DNSConfig is the [dns] table: the one caching resolver shared by SPF,
// DKIM, DMARC and the audit.
type DNSConfig struct {
	// Servers are IP addresses, optionally with a port ("192.0.2.53",
	// "192.0.2.53:5353", "[2001:db8::53]:53"); ParseConfig normalises them
	// to ip:port. Empty means the servers of /etc/resolv.conf.
	Servers     []string `toml:"servers"`
	Timeout     Duration `toml:"timeout"`      // per attempt
	Attempts    int      `toml:"attempts"`     // tries per server
	CacheSize   int      `toml:"cache_size"`   // entries; 0 turns the cache off
	OnTemperror Action   `toml:"on_temperror"` // never reject: a DNS failure is temporary
}

// ResolverConfig is the resolver these settings describe, for the daemon
// and the command-line tools alike. dns.cache_size 0 turns the cache off,
// which the resolver spells as a negative size (its 0 means "default").
func (c DNSConfig) ResolverConfig() dnsauth.ResolverConfig {
	size := c.CacheSize
	if size == 0 {
		size = -1
	}
	return dnsauth.ResolverConfig{Servers: c.Servers, Timeout: c.Timeout.Duration, Attempts: c.Attempts, CacheSize: size}
}

// NetworksConfig is the [networks] table: clients known by address.
type NetworksConfig struct {
	Trusted  []Network `toml:"trusted"`  // local submission: no sender checks
	Outbound []Network `toml:"outbound"` // own outbound servers: may send as protected domains
	// Internal are the organisation's own ranges: a client an own
	// outbound server took mail from there is its own (policy/outbound.go).
	Internal []Network `toml:"internal"`
}

// RelayConfig is one [[relay]]: an inbound filtering relay (the MX of the
// protected domains). Mail from it is checked against the client found in
// the Received header(s) it adds.
type RelayConfig struct {
	Name     string    `toml:"name"`     // required, unique; domain.via refers to it
	Networks []Network `toml:"networks"` // the relay's addresses
	SPF      []string  `toml:"spf"`      // domains whose SPF record lists the relay's IPs
	Hops     int       `toml:"hops"`     // Received headers the relay adds, 1..10
	// TraceError is the action when the relay's Received header is missing
	// or unparseable; accept means: evaluate with SPF none, while the DKIM
	// and header rules still apply.
	TraceError Action `toml:"trace_error"`
	// ByNames are the host names the relay's MTAs write after "by" (a
	// name, or "*.suffix" for any name below suffix). When set, the relay
	// is walked through its own headers instead of counting Hops
	// (policy/trace.go, policy/relaywalk.go).
	ByNames []string `toml:"by_names"`
	// ArcSealers are the ARC sealing domains (d= of the ARC-Seal) the
	// relay uses; AuthservID is the authserv-id of its own
	// Authentication-Results. What either reports counts for alignment
	// (policy/trusted.go).
	ArcSealers []string `toml:"arc_sealers"`
	// ArcSelectors are the selectors (s= of the ARC-Seal) the sealers
	// sign with: `spoofguard audit` checks that each sealer publishes a
	// key under one of them. The daemon does not need them.
	ArcSelectors []string `toml:"arc_selectors"`
	AuthservID   string   `toml:"authserv_id"`
}

// DomainConfig is one [[domain]]: a protected (own) domain.
type DomainConfig struct {
	Name            string `toml:"name"`             // lower-case A-label, no trailing dot
	Subdomains      *bool  `toml:"subdomains"`       // nil (absent) means true; see IncludesSubdomains
	Via             string `toml:"via"`              // relay name; "" for an edge MX
	Mode            Mode   `toml:"mode"`             // "" inherits milter.mode
	DirectDelivery  Action `toml:"direct_delivery"`  // inbound mail that did not come through Via
	EnvelopeForgery Action `toml:"envelope_forgery"` // MAIL FROM (or HELO) in this domain, SPF not pass
	HeaderForgery   Action `toml:"header_forgery"`   // RFC5322.From in this domain, not DMARC-aligned
	// Impersonation: mail that only looks like it is from this domain.
	DisplayName    Action   `toml:"display_name"`    // a display name shows a protected address or person
	Lookalike      Action   `toml:"lookalike"`       // From or envelope domain looks like this one
	People         []string `toml:"people"`          // protected persons' names, "Jane Doe"
	LookalikeAllow []string `toml:"lookalike_allow"` // real domains that merely look like this one
	Senders        []Sender `toml:"senders"`         // authorised third parties, each with its proof
	// Backscatter: bounces to this domain of mail it never sent.
	Backscatter  Action `toml:"backscatter"`    // "" inherits backscatter.action; accept turns BATV off here
	DKIMSignsAll bool   `toml:"dkim_signs_all"` // every message it sends carries its DKIM signature
}

// IncludesSubdomains reports whether the protection covers every name
// under Name too (the default).
func (d DomainConfig) IncludesSubdomains() bool {
	return d.Subdomains == nil || *d.Subdomains
}

// covers reports whether the normalised domain name falls under d.
func (d *DomainConfig) covers(name string) bool {
	if name == d.Name {
		return true
	}
	return d.IncludesSubdomains() && strings.HasSuffix(name, "."+d.Name)
}

// DMARCConfig is the [dmarc] table: local overrides of published policies.
type DMARCConfig struct {
	Enabled      *bool  `toml:"enabled"`       // nil (absent) means true; see On
	OnReject     Action `toml:"on_reject"`     // what a p=reject failure becomes
	OnQuarantine Action `toml:"on_quarantine"` // what a p=quarantine failure becomes
}

// On reports whether DMARC is evaluated (the default).
func (c DMARCConfig) On() bool {
	return c.Enabled == nil || *c.Enabled
}

// SPFConfig is the [spf] table.
type SPFConfig struct {
	OnFail Action `toml:"on_fail"` // SPF fail for a domain that is not protected
}

// DKIMConfig is the [dkim] table.
type DKIMConfig struct {
	MaxSignatures int `toml:"max_signatures"` // signatures verified per message, 1..64
}

// AllowConfig is the [allow] table: exemptions from DMARC and SPF outcomes
// for known forwarders and mailing lists. A domain entry covers its
// subdomains too. A protected domain can never be listed.
type AllowConfig struct {
	Networks      []Network `toml:"networks"`
	SenderDomains []string  `toml:"sender_domains"`
	DKIMDomains   []string  `toml:"dkim_domains"`
}

// Default returns the configuration of an empty file: nothing protected,
// enforce mode, loopback trusted, DNS from /etc/resolv.conf. Each call
// returns a fresh value.
func Default() *Config {
	return &Config{
		Milter: MilterConfig{
			Listen:        Listen{Network: "tcp4", Address: "127.0.0.1:8955"},
			AuthservID:    hostname(),
			Mode:          ModeEnforce,
			SocketMode:    FileMode{0o660},
			VerdictHeader: "X-Spoofguard",
			DrainTimeout:  Duration{30 * time.Second},
		},
		Log: LogConfig{Level: LogLevel{slog.LevelInfo}, Format: "text", Output: "stderr"},
		DNS: DNSConfig{
			Timeout:     Duration{2 * time.Second},
			Attempts:    2,
			CacheSize:   20000,
			OnTemperror: ActionTempFail,
		},
		Networks: NetworksConfig{Trusted: []Network{
			{netip.MustParsePrefix("127.0.0.0/8")},
			{netip.MustParsePrefix("::1/128")},
		}, Internal: internalDefault()},
		DMARC:       DMARCConfig{Enabled: boolPtr(true), OnReject: ActionReject, OnQuarantine: ActionQuarantine},
		SPF:         SPFConfig{OnFail: ActionAccept},
		DKIM:        DKIMConfig{MaxSignatures: 8},
		Store:       defaultStore(),
		Backscatter: BackscatterConfig{Action: ActionReject, State: DefaultBATVState},
	}
}

// internalDefault is networks.internal of an empty file: the private
// ranges (RFC 1918, RFC 4193), loopback and link-local.
func internalDefault() []Network {
	var out []Network
	for _, p := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "::1/128", "fe80::/10"} {
		out = append(out, Network{netip.MustParsePrefix(p)})
	}
	return out
}

// defaultRelay and defaultDomain are the starting values of each
// [[relay]] and [[domain]] before its keys are decoded.
func defaultRelay() RelayConfig {
	return RelayConfig{Hops: 1, TraceError: ActionAccept}
}

func defaultDomain() DomainConfig {
	return DomainConfig{
		DirectDelivery:  ActionReject,
		EnvelopeForgery: ActionReject,
		HeaderForgery:   ActionReject,
		DisplayName:     ActionQuarantine,
		Lookalike:       ActionQuarantine,
	}
}

// hostname is the default authserv-id. A host name that is not a valid
// RFC 8601 token would make every Authentication-Results header invalid,
// so it falls back to "localhost".
func hostname() string {
	h, err := os.Hostname()
	if err != nil || checkAuthservID(h) != nil {
		return "localhost"
	}
	return h
}

func boolPtr(b bool) *bool { return &b }

// maxFile bounds the file size: a configuration is a few kilobytes, and
// the bound keeps a stray multi-gigabyte path from being read into memory.
const maxFile = 1 << 20

// LoadConfig reads and parses the file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than the limit lets ParseConfig tell "too large".
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates a configuration; file names it in
// errors and in Config.File. The error is a *ConfigError listing every
// problem found, sorted by line.
func ParseConfig(file string, data []byte) (*Config, error) {
	if len(data) > maxFile {
		return nil, &ConfigError{Problems: []Problem{{File: file,
			Msg: fmt.Sprintf("file is larger than %d bytes; this is not a configuration file", maxFile)}}}
	}
	var tree map[string]any
	if err := toml.Unmarshal(data, &tree); err != nil {
		return nil, &ConfigError{Problems: []Problem{syntaxProblem(file, err)}}
	}
	d := newDecoder(file, data)
	c := Default()
	c.File = file
	d.decodeStruct("", tree, c)
	validate(d, c)
	if len(d.problems) > 0 {
		return nil, d.err()
	}
	return c, nil
}

// syntaxProblem turns a TOML parse error into a Problem. The document
// is not valid TOML, so nothing after this point can be trusted and this
// is the only problem reported.
func syntaxProblem(file string, err error) Problem {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return Problem{File: file, Msg: err.Error()}
	}
	line, col := de.Position()
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if strings.Contains(msg, "leading zero") {
		msg += ` (write permissions as a string: socket_mode = "0660")`
	}
	// The key go-toml names is relative to the table being parsed, so it
	// would mislead; the line and column say where.
	return Problem{File: file, Line: line, Column: col, Msg: "TOML syntax: " + msg}
}

// Domain returns the protected domain that covers an address domain: the
// longest configured name that equals it, or is its parent with
// subdomains on. It returns nil for a domain that is not protected. name
// may be in any case, with a trailing dot, or a U-label; a name that is
// not a valid domain is matched by its text, so junk in front of a
// protected name still counts as protected. The configured names must be
// normalised (ParseConfig does that).
func (c *Config) Domain(name string) *DomainConfig {
	n := LookupName(name)
	var best *DomainConfig
	for i := range c.Domains {
		d := &c.Domains[i]
		if d.covers(n) && (best == nil || len(d.Name) > len(best.Name)) {
			best = d
		}
	}
	return best
}

// Relay returns the relay with this name, or nil.
func (c *Config) Relay(name string) *RelayConfig {
	for i := range c.Relays {
		if c.Relays[i].Name == name {
			return &c.Relays[i]
		}
	}
	return nil
}

// ConfigError lists every problem found in a configuration file.
type ConfigError struct {
	Problems []Problem
}

// Error returns one line per problem.
func (e *ConfigError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the problems to errors.As and errors.Is.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i := range e.Problems {
		errs[i] = e.Problems[i]
	}
	return errs
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File   string
	Line   int    // 1-based; 0 when the problem concerns the whole file
	Column int    // 1-based; set for TOML syntax errors only
	Key    string // dotted key with array indexes, e.g. "domain[1].via"
	Msg    string
}

// Error formats the problem as "file:line: key: message", the shape
// editors and compilers use, so it can be jumped to.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.File == "" {
		b.WriteString("config")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}
