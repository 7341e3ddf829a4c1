package report

import (
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/store"
)

// Group is the mail one sender sent as a protected domain: one source
// (reverse-DNS organisation or network), one DKIM domain that passed (or
// none), one client class.
type Group struct {
	Source string    `json:"source"`
	DKIM   string    `json:"dkim,omitempty"` // the domain of a passing DKIM signature
	Class  string    `json:"class"`
	Count  int       `json:"count"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	SPF    Counts    `json:"spf"`    // SPF result of the evaluated client
	Given  Counts    `json:"given"`  // the verdicts the MTA was told
	Would  Counts    `json:"would"`  // report-only: the verdicts enforce mode would give
	Sender string    `json:"sender"` // the authorised sender entry that vouched, if any
	// Legitimate: the mail proves a sender other than the protected
	// domain (Why says how).
	Legitimate bool   `json:"legitimate"`
	Why        string `json:"why,omitempty"`
	Stopped    int    `json:"stopped"`    // refused or held
	WouldStop  int    `json:"would_stop"` // stopped in enforce mode
	Addresses  Counts `json:"addresses"`  // client addresses, the first maxAddresses
	Networks   Counts `json:"networks"`
	Envelope   Counts `json:"envelope"` // envelope sender domains

	doors map[string]int // stopped records by door, for the forgery count
}

// Counts counts occurrences of a value.
type Counts map[string]int

// Top is the most frequent value (the smallest one among equals).
func (c Counts) Top() (string, int) {
	best, n := "", 0
	for k, v := range c {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	return best, n
}

// Sorted lists the values by count, most frequent first.
func (c Counts) Sorted() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c[keys[i]] > c[keys[j]] || c[keys[i]] == c[keys[j]] && keys[i] < keys[j] })
	return keys
}

// maxAddresses bounds the addresses and networks a group keeps: a large
// sender's thousands of servers would otherwise fill memory, and past a
// few the report names no single mechanism anyway.
const maxAddresses = 16

// bounded counts k unless maxAddresses other values are there already.
func (c Counts) bounded(k string) {
	if _, ok := c[k]; ok || len(c) < maxAddresses {
		c[k]++
	}
}

type groupKey struct{ source, dkim, class string }

func (d *Domain) group(r *store.Record) *Group {
	k := groupKey{source: source(r), class: r.Class}
	if pass := r.PassingDKIM(); len(pass) > 0 {
		k.dkim = pass[0]
	}
	g := d.groups[k]
	if g == nil {
		g = &Group{Source: k.source, DKIM: k.dkim, Class: k.class, SPF: Counts{}, Given: Counts{}, Would: Counts{},
			Addresses: Counts{}, Networks: Counts{}, Envelope: Counts{}, doors: map[string]int{}}
		d.groups[k] = g
	}
	return g
}

// source names where the mail came from: the organisational domain of
// the client's reverse name, or its network when it has no name.
func source(r *store.Record) string {
	if r.ClientName != "" {
		return dmarc.OrgDomain(r.ClientName)
	}
	if n := network(r.ClientIP); n != "" {
		return n
	}
	return "unknown client"
}

// network is the /24 (IPv4) or /48 (IPv6) around an address: the unit a
// sender's servers usually share, and what an SPF mechanism would name.
func network(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

func (g *Group) add(r *store.Record) {
	if g.Count == 0 || r.Time.Before(g.First) {
		g.First = r.Time
	}
	if r.Time.After(g.Last) {
		g.Last = r.Time
	}
	g.Count++
	g.SPF[orNone(r.SPF)]++
	g.Given[r.Verdict]++
	if r.Would != "" {
		g.Would[r.Would]++
	}
	if r.Sender != "" {
		g.Sender = r.Sender
	}
	if n := network(r.ClientIP); n != "" {
		g.Networks.bounded(n)
		g.Addresses.bounded(r.ClientIP)
	}
	g.Envelope[orNone(r.MailFrom)]++
	g.count(r)
}

// count notes a stopped record and the door it tried. Direct delivery
// refuses recipients, each of which has its own record that counts it;
// in report-only mode the message's record names it too, and would
// count it twice.
func (g *Group) count(r *store.Record) {
	if r.Rule == ruleDirect {
		return
	}
	if r.Stopped() {
		g.Stopped++
	}
	if r.WouldStop() {
		g.WouldStop++
		g.doors[door(r.Rule)]++
	}
}

// settle decides whether the group looks legitimate for domain: mail
// from the servers of another organisation (by their reverse name)
// carrying a passing DKIM signature of that same organisation. A
// signature alone is not enough, nor an SPF pass for the sender's own
// envelope domain: a forger signs with, and publishes SPF for, a domain
// of its own just as easily, and sends from a server named after it. A
// service provider signs its customers' mail as itself, from its own
// servers; a forger relaying through someone else's servers cannot.
func (g *Group) settle(domain string) {
	switch {
	case g.DKIM != "" && !sameOrg(g.DKIM, domain) && sameOrg(g.DKIM, g.Source):
		g.Legitimate, g.Why = true, "DKIM pass d="+g.DKIM+" from its own servers"
	case g.DKIM != "" && !sameOrg(g.DKIM, domain):
		g.Why = "DKIM pass d=" + g.DKIM + ", but not from its servers"
	}
}

func (g *Group) less(h *Group) bool {
	if g.Count != h.Count {
		return g.Count > h.Count
	}
	return g.Label() < h.Label()
}

// Label names the group in one line: source, DKIM domain, class when it
// is not an Internet client.
func (g *Group) Label() string {
	s := g.Source
	if g.DKIM != "" {
		s += " d=" + g.DKIM
	}
	if g.Class != "" && g.Class != "internet" {
		s += " (" + g.Class + ")"
	}
	return s
}

func sameOrg(a, b string) bool {
	return strings.EqualFold(dmarc.OrgDomain(a), dmarc.OrgDomain(b))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Doors, as the report names them.
const (
	DoorDirect   = "direct delivery"
	DoorEnvelope = "envelope"
	DoorHeader   = "header"
	DoorRelay    = "relay trace"
	ruleDirect   = "direct-delivery"
	ruleEnvelope = "envelope-forgery"
	ruleHeader   = "header-forgery"
	ruleRelay    = "relay-trace"
)

// door is the way in a stopping rule guards; other rules (DMARC, SPF,
// impersonation) are named as they are.
func door(rule string) string {
	switch rule {
	case ruleDirect:
		return DoorDirect
	case ruleEnvelope:
		return DoorEnvelope
	case ruleHeader:
		return DoorHeader
	case ruleRelay:
		return DoorRelay
	}
	return rule
}
