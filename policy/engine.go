// Package policy decides what happens to a message. It holds the decision
// engine, built from a configuration (package config): the engine sorts
// the connecting client into a class (trusted, authenticated, outbound,
// relay, internet), follows mail from an inbound filtering relay back to
// the client that connected to the relay, and runs the rules — direct
// delivery, envelope forgery, header forgery, DMARC, SPF — each at the
// earliest SMTP stage where its evidence is complete. Every rule yields a
// Verdict; the most severe one wins, and a DNS failure never becomes a
// reject.
//
// The daemon (package milter) and the offline `spoofguard check` drive the
// very same Message methods in the same order, so there is one
// implementation of every rule.
package policy

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/policy/impersonation"
)

// Class is what the engine knows about the connecting client.
type Class string

// The client classes, in the order they are tried.
const (
	ClassTrusted       Class = "trusted"       // configured networks: local submission, no sender checks
	ClassAuthenticated Class = "authenticated" // SMTP AUTH: an own user
	ClassOutbound      Class = "outbound"      // an own outbound mail server
	ClassRelay         Class = "relay"         // the inbound filtering relay: checks run on the original client
	ClassInternet      Class = "internet"      // everybody else: full checks
)

// mayUseOwnDomains reports whether the class may send as a protected
// domain without being checked.
func (c Class) mayUseOwnDomains() bool {
	return c == ClassTrusted || c == ClassAuthenticated || c == ClassOutbound
}

// Engine is a configuration turned into a decision maker. It is safe for
// concurrent use; a reload builds a new Engine and swaps it in, and
// messages in progress finish with the engine they started with.
type Engine struct {
	cfg      *config.Config
	dns      dnsauth.DNS
	relays   []*relaySet
	byName   map[string]*relaySet
	trusted  []netip.Prefix
	outbound []netip.Prefix
	internal []netip.Prefix
	allowNet []netip.Prefix
	rand     func() int
	refresh  *refresher
	closing  sync.Once
	imp      *impersonation.Index
	domains  domainIndex
	bs       *backscatter
}

// Options adjust an engine for tests and for the offline check.
type Options struct {
	// Rand returns 0..99 for DMARC pct sampling; nil means random.
	Rand func() int
	// NoRefresh loads relay networks published in SPF once, without
	// keeping them fresh in the background (spoofguard check).
	NoRefresh bool
}

// NewEngine builds an engine from a validated configuration. Relay
// networks published in SPF records are fetched before it returns (within
// ctx); a relay whose records cannot be fetched yet is retried in the
// background, and until then mail for its domains is never rejected as
// direct delivery (it gets the temperror action instead).
func NewEngine(ctx context.Context, cfg *config.Config, dns dnsauth.DNS, opts Options) *Engine {
	e := &Engine{
		cfg:      cfg,
		dns:      dns,
		byName:   make(map[string]*relaySet),
		trusted:  prefixes(cfg.Networks.Trusted),
		outbound: prefixes(cfg.Networks.Outbound),
		internal: prefixes(cfg.Networks.Internal),
		allowNet: prefixes(cfg.Allow.Networks),
		rand:     opts.Rand,
		imp:      newImpersonationIndex(cfg),
		domains:  newDomainIndex(cfg),
		bs:       newBackscatter(cfg),
	}
	if e.rand == nil {
		e.rand = func() int { return rand.IntN(100) }
	}
	for i := range cfg.Relays {
		rs := newRelaySet(&cfg.Relays[i])
		rs.fetch(ctx, dns)
		e.relays = append(e.relays, rs)
		e.byName[rs.cfg.Name] = rs
	}
	if !opts.NoRefresh {
		e.refresh = startRefresher(e.relays, dns)
	}
	return e
}

// Close stops the background refresh of relay networks.
func (e *Engine) Close() {
	e.closing.Do(func() {
		if e.refresh != nil {
			e.refresh.close()
		}
	})
}

// Config returns the configuration the engine was built from.
func (e *Engine) Config() *config.Config { return e.cfg }

// DNS returns the resolver the engine uses.
func (e *Engine) DNS() dnsauth.DNS { return e.dns }

// RelayNetworks returns the current networks of the named relay, and a
// line saying how its SPF-published part was loaded.
func (e *Engine) RelayNetworks(name string) ([]netip.Prefix, string) {
	rs := e.byName[name]
	if rs == nil {
		return nil, "no such relay"
	}
	return rs.networks(), rs.Status()
}

// Classify sorts a client into its class (spec: "Who is connecting"). It
// returns the relay's name for the relay class, and a reason in words.
func (e *Engine) Classify(ip netip.Addr, authUser string) (class Class, relay string, reason string) {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		// No address is no proof of anything: MAIL before CONNECT, or an
		// unknown or unix address family. Postfix reports its local
		// submission as 127.0.0.1 (networks.trusted decides), and an own
		// user authenticates; a client nothing is known of is checked.
		if authUser != "" {
			return ClassAuthenticated, "", "authenticated as " + authUser + " (the MTA reported no client address)"
		}
		return ClassInternet, "", "the MTA reported no client address: judged as an Internet client"
	case prefixesContain(e.trusted, ip):
		return ClassTrusted, "", ip.String() + " is in networks.trusted"
	case authUser != "":
		return ClassAuthenticated, "", "authenticated as " + authUser
	case prefixesContain(e.outbound, ip):
		return ClassOutbound, "", ip.String() + " is in networks.outbound"
	}
	for _, rs := range e.relays {
		if in, _ := rs.contains(ip); in {
			return ClassRelay, rs.cfg.Name, ip.String() + " belongs to relay " + quote(rs.cfg.Name)
		}
	}
	return ClassInternet, "", ip.String() + " is not a configured network or relay"
}

// reportOnly tells whether verdicts about domain d (nil: not a protected
// domain) are only reported.
func (e *Engine) reportOnly(d *config.DomainConfig) bool {
	if d != nil && d.Mode != "" {
		return d.Mode == config.ModeReportOnly
	}
	return e.cfg.Milter.Mode == config.ModeReportOnly
}

// protected returns the configuration of the protected domain that covers
// name, or nil.
func (e *Engine) protected(name string) *config.DomainConfig {
	if name == "" {
		return nil
	}
	return e.domains.lookup(name)
}

func prefixes(ns []config.Network) []netip.Prefix {
	out := make([]netip.Prefix, len(ns))
	for i, n := range ns {
		out[i] = n.Prefix
	}
	return out
}

func quote(s string) string { return "\"" + s + "\"" }

// addrWords names a client address in reasons; a missing one is said so.
func addrWords(ip netip.Addr) string {
	if !ip.IsValid() {
		return "(no address)"
	}
	return ip.String()
}

// DomainOf returns the lower-cased domain of an address, without a final
// dot; "" when there is none.
func DomainOf(addr string) string {
	addr = strings.Trim(addr, "<> \t")
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
}

// aligned reports relaxed identifier alignment (RFC 7489 §3.1): both
// domains share an organizational domain.
func aligned(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	return a == b || dmarc.OrgDomain(a) == dmarc.OrgDomain(b)
}

// domainMatches reports whether name is pattern or below it.
func domainMatches(name, pattern string) bool {
	name, pattern = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(strings.TrimSuffix(pattern, "."))
	return name == pattern || strings.HasSuffix(name, "."+pattern)
}
