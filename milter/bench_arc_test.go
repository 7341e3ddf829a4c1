package milter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// BenchmarkMessageARC3: a message with a three-set ARC chain from a relay
// that trusts its newest seal (policy/testdata/arc/three.eml, sealed by
// dkimpy): the relay walk, the chain's three ARC-Seals and its newest
// ARC-Message-Signature verified (RSA-2048, warm DNS cache), and the
// sender's own DKIM signature, broken by the filter's footer, verified
// too. The message is accepted on what the seal vouches for.
func BenchmarkMessageARC3(b *testing.B) {
	dir := filepath.Join("..", "policy", "testdata", "arc")
	key, err := os.ReadFile(filepath.Join(dir, "key.txt"))
	if err != nil {
		b.Fatal(err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, "three.eml"))
	if err != nil {
		b.Fatal(err)
	}
	srv := dnstest.New(b, "")
	for _, name := range []string{"arc._domainkey.deep.example.net.", "arc._domainkey.elsewhere.example.", "fx._domainkey.example.org."} {
		srv.MustAdd(b, name+" IN TXT "+string(key))
	}
	addr := startBenchDaemon(b, srv.Addr, `
[[relay]]
name = "deep"
networks = ["198.51.105.0/24"]
by_names = ["*.deep.example.net"]
arc_sealers = ["deep.example.net"]
[[domain]]
name = "example.org"
`)
	w := &benchWorld{addr: addr, msg: string(msg)}
	runBench(b, w, func(s *gomilter.ClientSession) {
		r := sendOn(b, s, "198.51.105.9", "out.deep.example.net", "", "bounce@saas.example", []string{"user@example.org"}, w.msg)
		if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || !strings.Contains(strings.Join(r.header("Authentication-Results"), ""), "arc=pass") {
			b.Fatalf("message not accepted on its seal: %s %v %v", r.stage, r.act, r.mods)
		}
	})
}
