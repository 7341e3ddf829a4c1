package dnsauth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ResolverConfig tunes the caching stub resolver. The zero value is usable:
// servers come from /etc/resolv.conf and every limit has a default.
type ResolverConfig struct {
	Servers     []string      // "host" or "host:port"; empty: ResolvConf's nameservers
	ResolvConf  string        // default /etc/resolv.conf
	Timeout     time.Duration // per attempt; default 2s
	Attempts    int           // rounds over all servers; default 2
	MinTTL      time.Duration // floor for cached answers; default 5s
	MaxTTL      time.Duration // ceiling for cached answers; default 1h
	NegativeTTL time.Duration // NXDOMAIN/NODATA without an SOA; default 60s
	CacheSize   int           // entries; 0 means the default 20000, negative means no cache
	UDPSize     uint16        // EDNS0 buffer size advertised; default 1232
}

// ResolverStats are the resolver's counters since it was made.
type ResolverStats struct {
	Lookups   uint64 // lookups asked of the resolver
	CacheHits uint64 // lookups answered from the cache
	Coalesced uint64 // lookups that joined an identical query in flight
	Queries   uint64 // queries sent to servers (each attempt, UDP and TCP)
	Timeouts  uint64 // attempts that timed out
	Failures  uint64 // lookups that ended in a temporary failure
}

// Resolver is a caching DNS stub resolver. It is safe for concurrent use,
// and one instance serves SPF, DKIM, DMARC and the audit so they share one
// cache. Errors are bare *net.DNSError values (see the package comment).
type Resolver struct {
	cfg     ResolverConfig
	servers []string
	udp     *dns.Client
	tcp     *dns.Client

	mu    sync.RWMutex
	cache map[cacheKey]*cacheEntry

	flightMu sync.Mutex
	flight   map[cacheKey]*flightCall

	lookups, hits, coalesced, queries, timeouts, failures atomic.Uint64
	next                                                  atomic.Uint32 // server rotation
}

type cacheKey struct {
	name  string // lower-case FQDN
	qtype uint16
}

// cacheEntry is one answer: the matching records' data (rdata rendered
// for the type) or a negative answer, valid until expires.
type cacheEntry struct {
	txt      []string
	mx       []*net.MX
	ips      []net.IP
	names    []string
	notFound bool // NXDOMAIN; NODATA is an entry with no data
	expires  time.Time
}

type flightCall struct {
	done  chan struct{}
	entry *cacheEntry
	err   error
}

// NewResolver makes a resolver. It fails only when no server is configured
// and resolv.conf cannot be read.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	cfg = resolverDefaults(cfg)
	servers, err := resolverServers(cfg)
	if err != nil {
		return nil, err
	}
	return &Resolver{
		cfg:     cfg,
		servers: servers,
		udp:     &dns.Client{Net: "udp", UDPSize: cfg.UDPSize, Timeout: cfg.Timeout},
		tcp:     &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		cache:   make(map[cacheKey]*cacheEntry),
		flight:  make(map[cacheKey]*flightCall),
	}, nil
}

func resolverDefaults(cfg ResolverConfig) ResolverConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, 2*time.Second)
	def(&cfg.MinTTL, 5*time.Second)
	def(&cfg.MaxTTL, time.Hour)
	def(&cfg.NegativeTTL, time.Minute)
	if cfg.Attempts <= 0 {
		cfg.Attempts = 2
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 20000
	}
	if cfg.UDPSize == 0 {
		cfg.UDPSize = 1232 // the DNS flag day 2020 size: no IP fragmentation
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	return cfg
}

func resolverServers(cfg ResolverConfig) ([]string, error) {
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, withPort(s, "53"))
	}
	if len(out) > 0 {
		return out, nil
	}
	rc, err := dns.ClientConfigFromFile(cfg.ResolvConf)
	if err != nil {
		return nil, err
	}
	for _, s := range rc.Servers {
		out = append(out, withPort(s, rc.Port))
	}
	if len(out) == 0 {
		return nil, errors.New("no DNS servers configured and none in " + cfg.ResolvConf)
	}
	return out, nil
}

// withPort adds the port to a server given as a bare IPv4/IPv6 address.
func withPort(server, port string) string {
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server
	}
	return net.JoinHostPort(strings.Trim(server, "[]"), port)
}

// Servers returns the servers the resolver queries, in "host:port" form.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// Stats returns a snapshot of the counters.
func (r *Resolver) Stats() ResolverStats {
	return ResolverStats{
		Lookups:   r.lookups.Load(),
		CacheHits: r.hits.Load(),
		Coalesced: r.coalesced.Load(),
		Queries:   r.queries.Load(),
		Timeouts:  r.timeouts.Load(),
		Failures:  r.failures.Load(),
	}
}

// CacheLen is the number of entries in the cache.
func (r *Resolver) CacheLen() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.cache)
}

// LookupTXT returns the TXT records of name, each record's strings joined
// (long DKIM keys arrive split into 255-byte strings, RFC 6376 §3.6.2.2).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e, err := r.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), e.txt...), nil
}

// LookupMX returns the MX records of name.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	e, err := r.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, len(e.mx))
	for i, mx := range e.mx {
		c := *mx
		out[i] = &c
	}
	return out, nil
}

// LookupIPAddr returns the A and AAAA addresses of host. Like net.Resolver,
// a host with neither is "not found"; a temporary failure of one family is
// reported only when the other gave nothing.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	var e6 *cacheEntry
	var err6 error
	done := make(chan struct{})
	if r.cached(cacheKey{strings.ToLower(dns.Fqdn(host)), dns.TypeAAAA}) != nil {
		e6, err6 = r.lookup(ctx, host, dns.TypeAAAA)
		close(done)
	} else {
		// Ask both families at once: a cold lookup costs one round trip.
		go func() {
			e6, err6 = r.lookup(ctx, host, dns.TypeAAAA)
			close(done)
		}()
	}
	e4, err4 := r.lookup(ctx, host, dns.TypeA)
	<-done
	var out []net.IPAddr
	for _, e := range []*cacheEntry{e4, e6} {
		if e != nil {
			for _, ip := range e.ips {
				out = append(out, net.IPAddr{IP: ip})
			}
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case IsTemporary(err4):
		return nil, err4
	case IsTemporary(err6):
		return nil, err6
	case err4 != nil:
		return nil, err4
	case err6 != nil:
		return nil, err6
	}
	return nil, nil
}

// LookupAddr returns the PTR names of an IP address.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	e, err := r.lookup(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), e.names...), nil
}

// lookup answers from the cache, joins an identical query in flight, or
// asks the servers. A NXDOMAIN answer comes back as an error.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*cacheEntry, error) {
	r.lookups.Add(1)
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return nil, NotFoundError(name)
	}
	key := cacheKey{strings.ToLower(dns.Fqdn(name)), qtype}
	if e := r.cached(key); e != nil {
		r.hits.Add(1)
		return entryResult(name, e)
	}
	r.flightMu.Lock()
	call, joined := r.flight[key]
	if !joined {
		call = &flightCall{done: make(chan struct{})}
		r.flight[key] = call
	}
	r.flightMu.Unlock()
	if joined {
		r.coalesced.Add(1)
	} else {
		// The query runs detached from this caller's context so that a
		// caller giving up does not fail everyone who joined it; it is
		// bounded by the resolver's own timeouts.
		go r.resolve(key, call)
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		r.failures.Add(1)
		return nil, TemporaryError(name, "lookup abandoned: "+ctx.Err().Error(), true)
	}
	if call.err != nil {
		return nil, call.err
	}
	return entryResult(name, call.entry)
}

func entryResult(name string, e *cacheEntry) (*cacheEntry, error) {
	if e.notFound {
		return nil, NotFoundError(name)
	}
	return e, nil
}

func (r *Resolver) cached(key cacheKey) *cacheEntry {
	r.mu.RLock()
	e := r.cache[key]
	r.mu.RUnlock()
	if e == nil || time.Now().After(e.expires) {
		return nil
	}
	return e
}

func (r *Resolver) resolve(key cacheKey, call *flightCall) {
	call.entry, call.err = r.query(key)
	if call.err == nil {
		r.store(key, call.entry)
	} else {
		r.failures.Add(1)
	}
	r.flightMu.Lock()
	delete(r.flight, key)
	r.flightMu.Unlock()
	close(call.done)
}

// store caches e, keeping the cache within its bound: expired entries go
// first, then arbitrary ones (map order is random, which is fair enough
// for a cache whose entries all expire within MaxTTL anyway).
func (r *Resolver) store(key cacheKey, e *cacheEntry) {
	if r.cfg.CacheSize < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.cfg.CacheSize {
		now := time.Now()
		for k, old := range r.cache {
			if now.After(old.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < r.cfg.CacheSize*9/10 {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = e
}

// query asks the servers in turn, Attempts rounds, until one gives an
// authoritative-enough answer (NOERROR or NXDOMAIN).
func (r *Resolver) query(key cacheKey) (*cacheEntry, error) {
	m := new(dns.Msg)
	m.SetQuestion(key.name, key.qtype)
	m.RecursionDesired = true
	m.SetEdns0(r.cfg.UDPSize, false)
	lastErr := "no servers"
	timedOut := false
	start := int(r.next.Add(1))
	for attempt := 0; attempt < r.cfg.Attempts; attempt++ {
		for i := range r.servers {
			server := r.servers[(start+i)%len(r.servers)]
			resp, err := r.exchange(m, server)
			if err != nil {
				lastErr = err.Error()
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					timedOut = true
					r.timeouts.Add(1)
				}
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return r.entryFrom(key, resp), nil
			default:
				lastErr = "server answered " + dns.RcodeToString[resp.Rcode]
			}
		}
	}
	return nil, TemporaryError(strings.TrimSuffix(key.name, "."), lastErr, timedOut)
}

// exchange sends m over UDP and retries over TCP when the answer is
// truncated (RFC 7766 §5); miekg/dns does not fall back by itself.
func (r *Resolver) exchange(m *dns.Msg, server string) (*dns.Msg, error) {
	r.queries.Add(1)
	resp, _, err := r.udp.Exchange(m, server)
	if err == nil && resp.Truncated {
		r.queries.Add(1)
		resp, _, err = r.tcp.Exchange(m, server)
	}
	if err != nil {
		return nil, err
	}
	// miekg/dns takes any message with the query's ID as the answer, even
	// the query itself: a reflecting middlebox, or a UDP socket that was
	// given a dead server's port as its own and so talks to itself. Read
	// as "no records", that would turn an outage into a permanent result.
	if !resp.Response {
		return nil, errors.New("the message received is not a response")
	}
	if len(resp.Question) != 1 || !sameName(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype {
		return nil, errors.New("answer does not match the question")
	}
	return resp, nil
}

// entryFrom turns an answer into a cache entry: the records of the asked
// type (CNAME links are followed by the server and skipped here), with
// the TTL of the shortest-lived record, or a negative entry whose TTL
// comes from the SOA (RFC 2308 §5).
func (r *Resolver) entryFrom(key cacheKey, resp *dns.Msg) *cacheEntry {
	e := &cacheEntry{notFound: resp.Rcode == dns.RcodeNameError}
	var ttl uint32
	first := true
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype != key.qtype {
			continue
		}
		if first || rr.Header().Ttl < ttl {
			ttl, first = rr.Header().Ttl, false
		}
		switch v := rr.(type) {
		case *dns.TXT:
			e.txt = append(e.txt, unescapeTXT(strings.Join(v.Txt, "")))
		case *dns.MX:
			e.mx = append(e.mx, &net.MX{Host: v.Mx, Pref: v.Preference})
		case *dns.A:
			e.ips = append(e.ips, v.A)
		case *dns.AAAA:
			e.ips = append(e.ips, v.AAAA)
		case *dns.PTR:
			e.names = append(e.names, v.Ptr)
		}
	}
	life := time.Duration(ttl) * time.Second
	if first {
		life = r.negativeTTL(resp)
	}
	life = min(max(life, r.cfg.MinTTL), r.cfg.MaxTTL)
	e.expires = time.Now().Add(life)
	return e
}

func (r *Resolver) negativeTTL(resp *dns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return r.cfg.NegativeTTL
}

// sameName compares two names in wire form, case-insensitively: the
// presentation forms may escape the same byte differently.
func sameName(a, b string) bool {
	var wa, wb [256]byte
	na, errA := dns.PackDomainName(a, wa[:], 0, nil, false)
	nb, errB := dns.PackDomainName(b, wb[:], 0, nil, false)
	return errA == nil && errB == nil && bytes.EqualFold(wa[:na], wb[:nb])
}

// unescapeTXT turns miekg/dns's presentation form of TXT data (\" \\
// and \DDD escapes) back into the bytes on the wire, which is what SPF,
// DKIM and DMARC parse.
func unescapeTXT(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n < 256 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
