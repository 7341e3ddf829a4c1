package explain

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// TestExplainARC: `check` on a message the relay's filter changed and
// sealed (policy/testdata/arc, made by dkimpy) shows the chain, its
// sealer, what was taken from it and why the seal is trusted.
func TestExplainARC(t *testing.T) {
	key, err := os.ReadFile(filepath.Join("..", "testdata", "arc", "key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := os.ReadFile(filepath.Join("..", "testdata", "arc", "once.eml"))
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.New(t, "")
	dns.MustAdd(t, "arc._domainkey.deep.example.net. IN TXT "+string(key))
	e := engineOf(t, fmt.Sprintf(`
[milter]
authserv_id = "backend.example.org"
[dns]
servers = ["%s"]
[[relay]]
name = "deep"
networks = ["198.51.105.0/24"]
by_names = ["*.deep.example.net"]
arc_sealers = ["deep.example.net"]
[[domain]]
name = "example.org"
[[domain]]
name = "edge.example"
`, dns.Addr))
	helo, from := "out.deep.example.net", "bounce@saas.example"
	r, err := Check(context.Background(), e, bytes.NewReader(msg), Options{
		ClientIP: netip.MustParseAddr("198.51.105.9"), Helo: &helo, MailFrom: &from, Rcpts: []string{"user@edge.example"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "verdict", r.Verdict, config.ActionAccept)
	if a := r.ARC; a == nil || a.CV != dnsauth.Pass || !a.Trusted || a.Sealer != "deep.example.net" || len(a.Sets) != 1 {
		t.Fatalf("arc %+v", r.ARC)
	}
	if len(r.Trusted) != 2 || r.Trusted[0].Domain != "example.org" {
		t.Errorf("trusted results %+v", r.Trusted)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ARC: chain pass\n",
		"  i=1        sealed by deep.example.net, signed by deep.example.net, results of mx.deep.example.net: dkim=pass header.d=example.org; spf=pass smtp.mailfrom=bounce@saas.example\n",
		"  trusted    yes: chain pass, newest seal by deep.example.net, a sealer of relay \"deep\": taken dkim=pass example.org, spf=pass saas.example\n",
		"  dkim=pass  example.org  ← ARC i=1 sealed by deep.example.net for relay \"deep\"\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}
