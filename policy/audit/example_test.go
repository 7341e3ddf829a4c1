package audit_test

import (
	"context"
	"fmt"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/policy/audit"
)

// A domain behind a filter whose backup MX is not the filter.
func ExampleRun() {
	srv, err := dnstest.Start("127.0.0.1:0", `
example.org.         IN TXT "v=spf1 ip4:203.0.113.10 -all"
_dmarc.example.org.  IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.org"
example.org.         IN MX  10 mx.filter.example.
example.org.         IN MX  20 backup.example.org.
mx.filter.example.   IN A   198.51.100.10
backup.example.org.  IN A   192.0.2.25
`)
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	cfg, err := config.ParseConfig("example.toml", []byte(`
[dns]
servers = ["`+srv.Addr+`"]
[[relay]]
name = "filter"
networks = ["198.51.100.0/24"]
[[domain]]
name = "example.org"
via = "filter"
`))
	if err != nil {
		panic(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers})
	if err != nil {
		panic(err)
	}
	e := policy.NewEngine(context.Background(), cfg, res, policy.Options{NoRefresh: true})
	defer e.Close()

	r := audit.Run(context.Background(), e, nil)
	for _, f := range r.Domains[0].Findings {
		if f.Status != audit.Pass {
			fmt.Println(f.Status, f.Check, f.Detail)
		}
	}
	fmt.Println("failed:", r.Failed())
	// Output:
	// FAIL mx.relay MX host backup.example.org (preference 20) resolves to 192.0.2.25, outside relay "filter": an unfiltered back door — mail through it never passes the filter
	// failed: true
}
