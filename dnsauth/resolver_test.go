package dnsauth

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

const resolverZone = `
example.org. 300 IN SOA ns.example.org. admin.example.org. 1 3600 600 86400 30
example.org. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
example.org. 300 IN MX 10 mx1.example.org.
example.org. 300 IN MX 20 mx2.example.org.
mx1.example.org. 300 IN A 192.0.2.1
mx1.example.org. 300 IN AAAA 2001:db8::1
v4only.example.org. 300 IN A 192.0.2.2
alias.example.org. 300 IN CNAME mx1.example.org.
short.example.org. 1 IN TXT "short-lived"
1.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.org.
`

func resolverFor(t testing.TB, cfg ResolverConfig, servers ...string) *Resolver {
	t.Helper()
	cfg.Servers = servers
	if cfg.Timeout == 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolverLookups(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	r := resolverFor(t, ResolverConfig{}, srv.Addr)
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "Example.ORG")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Errorf("TXT = %q, %v", txt, err)
	}
	mx, err := r.LookupMX(ctx, "example.org")
	if err != nil || len(mx) != 2 {
		t.Errorf("MX = %v, %v", mx, err)
	}
	ips, err := r.LookupIPAddr(ctx, "mx1.example.org")
	if err != nil || len(ips) != 2 {
		t.Errorf("mx1 addresses = %v, %v", ips, err)
	}
	ips, err = r.LookupIPAddr(ctx, "v4only.example.org")
	if err != nil || len(ips) != 1 || !ips[0].IP.Equal(net.ParseIP("192.0.2.2")) {
		t.Errorf("v4only addresses = %v, %v", ips, err)
	}
	ips, err = r.LookupIPAddr(ctx, "alias.example.org")
	if err != nil || len(ips) != 2 {
		t.Errorf("CNAME-ed addresses = %v, %v", ips, err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.1")
	if err != nil || len(names) != 1 || names[0] != "mx1.example.org." {
		t.Errorf("PTR = %v, %v", names, err)
	}
}

// The error contract the SPF and DKIM libraries rely on: bare
// *net.DNSError, NotFound for NXDOMAIN, Temporary for server trouble, and
// (nil, nil) for NODATA.
func TestResolverErrorContract(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	srv.SetFault("servfail.example.org", dnstest.ServFail)
	srv.SetFault("refused.example.org", dnstest.Refused)
	srv.SetFault("garbage.example.org", dnstest.Garbage)
	srv.SetFault("silent.example.org", dnstest.Timeout)
	r := resolverFor(t, ResolverConfig{Timeout: 100 * time.Millisecond, Attempts: 1}, srv.Addr)
	ctx := context.Background()

	test := func(name string, wantNotFound, wantTemporary bool) {
		t.Helper()
		_, err := r.LookupTXT(ctx, name)
		de, ok := err.(*net.DNSError)
		if !ok {
			t.Errorf("%s: error %T %v is not a bare *net.DNSError", name, err, err)
			return
		}
		if de.IsNotFound != wantNotFound || de.Temporary() != wantTemporary {
			t.Errorf("%s: notFound=%v temporary=%v, want %v %v (%v)", name, de.IsNotFound, de.Temporary(), wantNotFound, wantTemporary, err)
		}
	}
	test("nx.example.org", true, false)
	test("servfail.example.org", false, true)
	test("refused.example.org", false, true)
	test("garbage.example.org", false, true)
	test("silent.example.org", false, true)
	test(strings.Repeat("a", 70)+".example.org", true, false) // label too long: not a domain name

	txt, err := r.LookupTXT(ctx, "v4only.example.org") // exists, no TXT: NODATA
	if err != nil || len(txt) != 0 {
		t.Errorf("NODATA = %q, %v", txt, err)
	}
	if _, err := r.LookupIPAddr(ctx, "nx.example.org"); !IsNotFound(err) {
		t.Errorf("IPAddr NXDOMAIN = %v", err)
	}
	if _, err := r.LookupIPAddr(ctx, "servfail.example.org"); !IsTemporary(err) {
		t.Errorf("IPAddr SERVFAIL = %v", err)
	}
	st := r.Stats()
	if st.Timeouts == 0 || st.Failures < 4 {
		t.Errorf("stats after failures = %+v", st)
	}
}

func TestResolverTruncationFallsBackToTCP(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	big := strings.Repeat("k", 250)
	var rrs []string
	for i := 0; i < 8; i++ { // 8 × 250 bytes: over 1232, so the UDP answer is cut
		rrs = append(rrs, fmt.Sprintf(`big.example.org. 300 IN TXT "%d%s"`, i, big))
	}
	srv.MustAdd(t, strings.Join(rrs, "\n"))
	srv.MustAdd(t, `forced.example.org. 300 IN TXT "small"`)
	srv.SetFault("forced.example.org", dnstest.Truncate)
	r := resolverFor(t, ResolverConfig{}, srv.Addr)

	txt, err := r.LookupTXT(context.Background(), "big.example.org")
	if err != nil || len(txt) != 8 {
		t.Fatalf("big TXT: %d records, %v", len(txt), err)
	}
	txt, err = r.LookupTXT(context.Background(), "forced.example.org")
	if err != nil || len(txt) != 1 || txt[0] != "small" {
		t.Fatalf("forced truncation: %q, %v", txt, err)
	}
	if q := r.Stats().Queries; q != 4 {
		t.Errorf("queries = %d, want 4 (UDP then TCP, twice)", q)
	}
}

func TestResolverCaches(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	r := resolverFor(t, ResolverConfig{MinTTL: time.Millisecond}, srv.Addr)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		r.LookupTXT(ctx, "example.org")
		r.LookupTXT(ctx, "nx.example.org") // negative answers are cached too
		r.LookupTXT(ctx, "v4only.example.org")
	}
	if got := srv.Queries(); got != 3 {
		t.Errorf("server saw %d queries, want 3", got)
	}
	if st := r.Stats(); st.CacheHits != 6 || st.Lookups != 9 {
		t.Errorf("stats = %+v", st)
	}

	// Positive TTL comes from the record, negative from the SOA minimum.
	ttl := func(name string) time.Duration {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return time.Until(r.cache[cacheKey{name, dns.TypeTXT}].expires).Round(time.Second)
	}
	if got := ttl("example.org."); got != 300*time.Second {
		t.Errorf("positive TTL = %v", got)
	}
	if got := ttl("nx.example.org."); got != 30*time.Second {
		t.Errorf("negative TTL = %v, want the SOA minimum 30s", got)
	}

	// A record with TTL 1 expires and is asked for again.
	r.LookupTXT(ctx, "short.example.org")
	time.Sleep(1100 * time.Millisecond)
	before := srv.Queries()
	if txt, _ := r.LookupTXT(ctx, "short.example.org"); len(txt) != 1 || srv.Queries() != before+1 {
		t.Errorf("expired entry not refreshed: %q, queries %d→%d", txt, before, srv.Queries())
	}
}

func TestResolverTTLBounds(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	r := resolverFor(t, ResolverConfig{MinTTL: 10 * time.Second, MaxTTL: 60 * time.Second}, srv.Addr)
	r.LookupTXT(context.Background(), "short.example.org")
	r.LookupTXT(context.Background(), "example.org")
	r.mu.RLock()
	defer r.mu.RUnlock()
	for name, want := range map[string]time.Duration{"short.example.org.": 10 * time.Second, "example.org.": 60 * time.Second} {
		if got := time.Until(r.cache[cacheKey{name, dns.TypeTXT}].expires).Round(time.Second); got != want {
			t.Errorf("%s cached for %v, want %v", name, got, want)
		}
	}
}

func TestResolverCacheIsBounded(t *testing.T) {
	srv := dnstest.New(t, "*.example.org. 300 IN TXT \"w\"")
	r := resolverFor(t, ResolverConfig{CacheSize: 50}, srv.Addr)
	for i := 0; i < 500; i++ {
		if _, err := r.LookupTXT(context.Background(), fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.CacheLen(); n > 50 {
		t.Errorf("cache holds %d entries, bound is 50", n)
	}
}

func TestResolverCoalescesIdenticalQueries(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	srv.SetDelay(100 * time.Millisecond)
	r := resolverFor(t, ResolverConfig{Timeout: time.Second}, srv.Addr)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if txt, err := r.LookupTXT(context.Background(), "example.org"); err != nil || len(txt) != 1 {
				t.Errorf("lookup: %q %v", txt, err)
			}
		}()
	}
	wg.Wait()
	if q := srv.Queries(); q != 1 {
		t.Errorf("server saw %d queries for 20 identical lookups", q)
	}
	if st := r.Stats(); st.Coalesced+st.CacheHits != 19 {
		t.Errorf("stats = %+v", st)
	}
}

func TestResolverFailsOverToNextServer(t *testing.T) {
	deadAddr := dnstest.DeadAddr
	srv := dnstest.New(t, resolverZone)
	r := resolverFor(t, ResolverConfig{Attempts: 1}, deadAddr, srv.Addr)
	for i := 0; i < 4; i++ { // the rotation starts at either server
		if txt, err := r.LookupTXT(context.Background(), fmt.Sprintf("x%d.example.org", i)); !IsNotFound(err) {
			t.Errorf("lookup %d: %q %v", i, txt, err)
		}
	}
	servfail := dnstest.New(t, resolverZone)
	servfail.SetFault(".", dnstest.ServFail)
	r = resolverFor(t, ResolverConfig{Attempts: 1}, servfail.Addr, srv.Addr)
	for i := 0; i < 4; i++ {
		if txt, err := r.LookupTXT(context.Background(), "example.org"); err != nil || len(txt) != 1 {
			t.Errorf("SERVFAIL then good server: %q %v", txt, err)
		}
	}
}

func TestResolverHonoursCallerContext(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	srv.SetFault("silent.example.org", dnstest.Timeout)
	r := resolverFor(t, ResolverConfig{Timeout: 2 * time.Second}, srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.LookupTXT(ctx, "silent.example.org")
	if !IsTemporary(err) || time.Since(start) > time.Second {
		t.Errorf("after %v: %v", time.Since(start), err)
	}
}

func TestResolverReadsResolvConf(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	host, port, _ := net.SplitHostPort(srv.Addr)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(conf, []byte("# test\nnameserver "+host+"\noptions timeout:1\n"), 0o644)
	r, err := NewResolver(ResolverConfig{ResolvConf: conf})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Servers(); len(got) != 1 || got[0] != host+":53" {
		t.Errorf("servers = %v", got)
	}
	r, _ = NewResolver(ResolverConfig{Servers: []string{"192.0.2.53", "[2001:db8::53]:5353", srv.Addr}})
	want := []string{"192.0.2.53:53", "[2001:db8::53]:5353", host + ":" + port}
	if got := r.Servers(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("servers = %v, want %v", got, want)
	}
	if _, err := NewResolver(ResolverConfig{ResolvConf: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Error("missing resolv.conf and no servers: want an error")
	}
}

// Failing lookups must not leak sockets or goroutines (OpenDKIM's resolver
// once leaked sockets until it ran out of descriptors).
func TestResolverDoesNotLeakOnFailures(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	srv.SetFault("servfail.example.org", dnstest.ServFail)
	srv.SetFault("garbage.example.org", dnstest.Garbage)
	srv.SetFault("refused.example.org", dnstest.Refused)
	r := resolverFor(t, ResolverConfig{Attempts: 1}, srv.Addr)
	down := resolverFor(t, ResolverConfig{Attempts: 1}, dnstest.DeadAddr)

	before := dnstest.CountResources(t)
	names := []string{"servfail.example.org", "garbage.example.org", "refused.example.org"}
	const n = 10000
	for i := 0; i < n; i++ {
		var err error
		if i%4 == 3 {
			_, err = down.LookupTXT(context.Background(), "example.org")
		} else {
			_, err = r.LookupTXT(context.Background(), names[i%4])
		}
		if !IsTemporary(err) {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	dnstest.ExpectNoLeak(t, before, 2, 3*time.Second, fmt.Sprintf("%d failing lookups", n))
}

func BenchmarkResolverCacheHit(b *testing.B) {
	srv := dnstest.New(b, resolverZone)
	r := resolverFor(b, ResolverConfig{}, srv.Addr)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupTXT(ctx, "example.org"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResolverIPAddrCacheHit(b *testing.B) {
	srv := dnstest.New(b, resolverZone)
	r := resolverFor(b, ResolverConfig{}, srv.Addr)
	ctx := context.Background()
	r.LookupIPAddr(ctx, "mx1.example.org")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupIPAddr(ctx, "mx1.example.org"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestResolverUnescapesTXTAndOddNames(t *testing.T) {
	srv := dnstest.New(t, `
quoted.example.org. IN TXT "say \"hi\" \\ back"
utf8.example.org. IN TXT "v=spf1 caf\195\169 -all"
a\032b.example.org. IN TXT "space in the name"
`)
	r := resolverFor(t, ResolverConfig{}, srv.Addr)
	for name, want := range map[string]string{
		"quoted.example.org": `say "hi" \ back`,
		"utf8.example.org":   "v=spf1 café -all",
		"a b.example.org":    "space in the name",
	} {
		txt, err := r.LookupTXT(context.Background(), name)
		if err != nil || len(txt) != 1 || txt[0] != want {
			t.Errorf("%s: %q %v, want %q", name, txt, err, want)
		}
	}
}

func TestResolverWithoutCache(t *testing.T) {
	srv := dnstest.New(t, resolverZone)
	r := resolverFor(t, ResolverConfig{CacheSize: -1}, srv.Addr)
	for i := 0; i < 3; i++ {
		if txt, err := r.LookupTXT(context.Background(), "example.org"); err != nil || len(txt) != 1 {
			t.Fatalf("lookup: %q %v", txt, err)
		}
	}
	if q := srv.Queries(); q != 3 || r.CacheLen() != 0 {
		t.Errorf("queries %d, cache %d entries; want 3 and 0 with the cache off", q, r.CacheLen())
	}
}
