// Package dnstest runs a real authoritative DNS server on 127.0.0.1, over
// UDP and TCP on the same port, answering from zone data held in memory.
// Tests of every spoofguard package resolve through it instead of the
// Internet; faults (SERVFAIL, REFUSED, silence, garbage, forced truncation)
// can be attached to any name so the temperror paths are exercised for real.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Fault is a misbehaviour the server shows for a name and everything below it.
type Fault int

// The faults a test can attach to a name.
const (
	NoFault  Fault = iota
	ServFail       // answer SERVFAIL
	Refused        // answer REFUSED
	Timeout        // never answer
	Garbage        // answer with bytes that are not a DNS message
	Truncate       // over UDP: an empty answer with TC set; TCP answers normally
	FormErr        // answer FORMERR
)

// Server is an in-process DNS server. Its zone and faults may be changed
// while it runs.
type Server struct {
	// Addr is "127.0.0.1:port", usable as a resolver server address.
	Addr string

	mu     sync.RWMutex
	rrs    map[string][]dns.RR // lower-case FQDN → records of every type
	faults map[string]Fault    // lower-case FQDN → fault for it and below

	udp, tcp *dns.Server
	running  bool
	queries  atomic.Int64
	delay    atomic.Int64 // nanoseconds to wait before answering
}

// New starts a server for a test, loaded with zone (master-file syntax; see
// Add), and stops it when the test ends.
func New(tb testing.TB, zone string) *Server {
	tb.Helper()
	s, err := Start("127.0.0.1:0", zone)
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Start starts a server listening on addr ("127.0.0.1:0" picks a free
// port) with the records of zone.
func Start(addr, zone string) (*Server, error) {
	s := &Server{rrs: map[string][]dns.RR{}, faults: map[string]Fault{}}
	if err := s.Add(zone); err != nil {
		return nil, err
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(addr string) error {
	pc, ln, err := listenBoth(addr)
	if err != nil {
		return err
	}
	s.Addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	wg.Add(2)
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: wg.Done}
	s.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: wg.Done,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	wg.Wait()
	s.running = true
	return nil
}

// listenBoth opens UDP and TCP on the same port. With port 0 the UDP port
// is picked first, and it may be taken for TCP by someone else: then try
// another.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for tries := 0; ; tries++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || tries == 20 {
			return nil, nil, err
		}
	}
}

// Stop shuts the server down. The port is released; Restart binds it again.
func (s *Server) Stop() {
	if !s.running {
		return
	}
	s.running = false
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// Restart starts a stopped server again on the same address.
func (s *Server) Restart() error {
	if s.running {
		return nil
	}
	return s.listen(s.Addr)
}

// Queries is the number of queries received so far, over both transports.
func (s *Server) Queries() int64 { return s.queries.Load() }

// SetDelay makes every answer wait d first (0 turns it off).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Add loads records written in master-file syntax, one per line. Relative
// names are not allowed: write every owner name in full, with or without
// the final dot. A missing TTL means 300 seconds. Lines starting with ';'
// or '#' and blank lines are skipped.
func (s *Server) Add(zone string) error {
	var errs []error
	for i, line := range strings.Split(zone, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("zone line %d: %v", i+1, err))
			continue
		}
		if rr != nil {
			s.AddRR(rr)
		}
	}
	return errors.Join(errs...)
}

// MustAdd is Add for tests: a bad record fails the test.
func (s *Server) MustAdd(tb testing.TB, zone string) {
	tb.Helper()
	if err := s.Add(zone); err != nil {
		tb.Fatal(err)
	}
}

// AddRR adds records built by the caller.
func (s *Server) AddRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		// A copy: answers in flight may still be packing the caller's
		// records, and the name is rewritten below.
		rr = dns.Copy(rr)
		name := canonical(rr.Header().Name)
		rr.Header().Name = name
		s.rrs[name] = append(s.rrs[name], rr)
	}
}

// Remove deletes every record of name (all types).
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rrs, canonical(name))
}

// canonical is a name as the server sees it in a query: lower case, fully
// qualified, escapes written the way miekg/dns unpacks them from the wire.
func canonical(name string) string {
	name = strings.ToLower(dns.Fqdn(name))
	var buf [256]byte
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return name
	}
	if out, _, err := dns.UnpackDomainName(buf[:n], 0); err == nil {
		return out
	}
	return name
}

// SetFault attaches a fault to name and every name below it; NoFault
// removes it.
func (s *Server) SetFault(name string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if f == NoFault {
		delete(s.faults, name)
		return
	}
	s.faults[name] = f
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	_, overUDP := w.RemoteAddr().(*net.UDPAddr)

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch s.faultFor(name) {
	case Timeout:
		return
	case Garbage:
		w.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0x00})
		return
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
	case Refused:
		m.Rcode = dns.RcodeRefused
	case FormErr:
		m.Rcode = dns.RcodeFormatError
	case Truncate:
		if overUDP {
			m.Truncated = true
			break
		}
		s.answer(m, name, q.Qtype)
	default:
		s.answer(m, name, q.Qtype)
	}
	if overUDP {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func (s *Server) faultFor(name string) Fault {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for n := name; ; {
		if f, ok := s.faults[n]; ok {
			return f
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return s.faults["."]
		}
		n = n[i+1:]
	}
}

// answer fills m with the records of name and type qtype, following CNAMEs
// inside the zone and expanding wildcards, or sets NXDOMAIN/NODATA with an
// SOA in the authority section so negative caching can be tested.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for hops := 0; hops < 8; hops++ {
		rrs, exists := s.lookup(name)
		if !exists {
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = s.soaFor(name)
			return
		}
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
				m.Answer = append(m.Answer, rr)
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil {
			if len(m.Answer) == 0 {
				m.Ns = s.soaFor(name)
			}
			return
		}
		m.Answer = append(m.Answer, cname)
		name = strings.ToLower(cname.Target)
	}
}

// lookup returns the records of name (copied onto name when they come from
// a wildcard) and whether the name exists at all, counting empty
// non-terminals as existing.
func (s *Server) lookup(name string) ([]dns.RR, bool) {
	if rrs, ok := s.rrs[name]; ok {
		return rrs, true
	}
	for n := range s.rrs {
		if strings.HasSuffix(n, "."+name) {
			return nil, true
		}
	}
	if i := strings.IndexByte(name, '.'); i >= 0 && i < len(name)-1 {
		if rrs, ok := s.rrs["*."+name[i+1:]]; ok {
			out := make([]dns.RR, len(rrs))
			for j, rr := range rrs {
				out[j] = dns.Copy(rr)
				out[j].Header().Name = name
			}
			return out, true
		}
	}
	return nil, false
}

// soaFor returns the SOA of the closest enclosing name that has one, with
// its MINIMUM as the negative-caching TTL (RFC 2308 §5).
func (s *Server) soaFor(name string) []dns.RR {
	for n := name; ; {
		for _, rr := range s.rrs[n] {
			if soa, ok := rr.(*dns.SOA); ok {
				return []dns.RR{soa}
			}
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil
		}
		n = n[i+1:]
	}
}
