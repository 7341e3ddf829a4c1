package arc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// testMessage is a plain message with a body of about n bytes.
func testMessage(n int) []byte {
	var b strings.Builder
	b.WriteString("Received: from mail.example.org by mx.filter.example.net; Thu, 1 Jan 2026 10:00:00 +0000\r\n")
	b.WriteString("From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: quarterly figures\r\n")
	b.WriteString("Date: Thu, 1 Jan 2026 10:00:00 +0000\r\nMessage-ID: <a1@example.org>\r\n\r\n")
	for b.Len() < n {
		b.WriteString("The figures are attached; please check   them before Friday.  \r\n")
	}
	return []byte(b.String())
}

// testZone starts the DNS server with the sealers' keys and returns the
// real resolver pointed at it.
func testZone(t testing.TB, sealers ...*testSealer) (*dnstest.Server, dnsauth.DNS) {
	t.Helper()
	srv := dnstest.New(t, "")
	publish(t, srv, sealers...)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r
}

// verify runs Verify with a 5 s budget.
func verify(t testing.TB, r dnsauth.DNS, msg []byte) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Verify(ctx, r, msg, time.Now())
}

// threeHops seals a message at three relays: RSA, Ed25519, RSA.
func threeHops(t testing.TB, msg []byte) ([]byte, []*testSealer) {
	hops := []*testSealer{
		newSealer("lists.example.org", "arc1", "rsa"),
		newSealer("forwarder.example.com", "ed", "ed25519"),
		newSealer("filter.example.net", "arc2026", "rsa"),
	}
	msg = hops[0].seal(t, msg, "none", "spf=pass smtp.mailfrom=example.org;\r\n\tdkim=pass header.d=example.org header.i=@example.org")
	msg = hops[1].seal(t, msg, "pass", "arc=pass; dkim=fail (body changed) header.d=example.org")
	msg = hops[2].seal(t, msg, "pass", "arc=pass (i=2 forwarder.example.com);\r\n\tspf=fail smtp.mailfrom=example.org;\r\n\tdkim=pass (2048-bit key) header.d=example.org header.i=@example.org header.s=sel")
	return msg, hops
}

func TestChainOfThreePasses(t *testing.T) {
	msg, hops := threeHops(t, testMessage(4096))
	_, r := testZone(t, hops...)
	res := verify(t, r, msg)
	if res.CV != dnsauth.Pass || res.Reason != "" || res.Instance != 3 || res.Sealer != "filter.example.net" {
		t.Fatalf("%+v", res)
	}
	if len(res.Sets) != 3 {
		t.Fatalf("%d sets", len(res.Sets))
	}
	n := res.Newest()
	if n.Instance != 3 || n.Sealer != "filter.example.net" || n.Signer != "filter.example.net" ||
		n.AuthservID != "mx.filter.example.net" || n.ResultsError != "" {
		t.Fatalf("newest set %+v", n)
	}
	want := "arc=pass () spf=fail (smtp.mailfrom=example.org) dkim=pass (header.d=example.org header.i=@example.org header.s=sel)"
	if got := describeResults(n.Results); got != want {
		t.Errorf("results\n got %s\nwant %s", got, want)
	}
	if res.Sets[1].Sealer != "forwarder.example.com" || res.Sets[0].Results[1].Prop("header.d") != "example.org" {
		t.Errorf("older sets %+v", res.Sets[:2])
	}
}

// describeResults writes results compactly: method=result (props).
func describeResults(rs []AuthResult) string {
	var parts []string
	for _, r := range rs {
		var props []string
		for _, k := range []string{"smtp.mailfrom", "header.d", "header.i", "header.s"} {
			if v := r.Prop(k); v != "" {
				props = append(props, k+"="+v)
			}
		}
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", r.Method, r.Result, strings.Join(props, " ")))
	}
	return strings.Join(parts, " ")
}

// A relay that changes the message and then seals it (a subject tag, a
// footer) leaves a chain that passes: only the newest AMS covers the
// message as it is now. A change after the last seal breaks it.
func TestChangesBetweenAndAfterSeals(t *testing.T) {
	first := newSealer("lists.example.org", "arc1", "rsa")
	filter := newSealer("filter.example.net", "arc2026", "ed25519")
	_, r := testZone(t, first, filter)
	msg := first.seal(t, testMessage(2048), "none", "dkim=pass header.d=example.org")
	msg = []byte(strings.Replace(string(msg), "Subject: quarterly", "Subject: [EXTERNAL] quarterly", 1))
	msg = append(msg, "-- \r\nThis message was scanned.\r\n"...)
	msg = filter.seal(t, msg, "pass", "arc=pass; dkim=fail header.d=example.org")
	if res := verify(t, r, msg); res.CV != dnsauth.Pass {
		t.Fatalf("changed before the last seal: %+v", res)
	}
	for name, change := range map[string]func(string) string{
		"body":    func(m string) string { return m + "Appended.\r\n" },
		"subject": func(m string) string { return strings.Replace(m, "quarterly", "annual", 1) },
		"older AAR": func(m string) string {
			return strings.Replace(m, "dkim=pass header.d=example.org", "dkim=pass header.d=evil.example", 1)
		},
		"newest AAR": func(m string) string { return strings.Replace(m, "arc=pass; dkim=fail", "arc=pass; dkim=pass", 1) },
	} {
		res := verify(t, r, []byte(change(string(msg))))
		if res.CV != dnsauth.Fail || res.Reason == "" {
			t.Errorf("%s changed after the seal: %+v", name, res)
		}
	}
}

// Without c= an AMS is simple/simple (RFC 6376 §3.5): a sealer that
// canonicalized simple and left c= out verifies.
func TestCanonDefaultSimple(t *testing.T) {
	s := newSealer("filter.example.net", "arc", "rsa")
	s.canon = ""
	_, r := testZone(t, s)
	msg := s.seal(t, testMessage(512), "none", "spf=pass smtp.mailfrom=example.org")
	if res := verify(t, r, msg); res.CV != dnsauth.Pass {
		t.Fatalf("%+v", res)
	}
	// simple keeps the header's white space: re-spacing it breaks the AMS.
	spaced := strings.Replace(string(msg), "Subject: quarterly", "Subject:  quarterly", 1)
	if res := verify(t, r, []byte(spaced)); res.CV != dnsauth.Fail {
		t.Fatalf("%+v", res)
	}
}

// Each canonicalization pair verifies, with LF or CRLF line ends.
func TestCanonPairs(t *testing.T) {
	for _, c := range []string{"simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed", "relaxed", "simple"} {
		s := newSealer("filter.example.net", "arc", "ed25519")
		s.canon = c
		_, r := testZone(t, s)
		msg := s.seal(t, testMessage(700), "none", "spf=pass smtp.mailfrom=example.org")
		if res := verify(t, r, msg); res.CV != dnsauth.Pass {
			t.Errorf("c=%s: %+v", c, res)
		}
		lf := strings.ReplaceAll(string(msg), "\r\n", "\n")
		if res := verify(t, r, []byte(lf)); res.CV != dnsauth.Pass {
			t.Errorf("c=%s with LF: %+v", c, res)
		}
	}
}

// An AMS may sign the ARC-Message-Signatures before it; it never signs
// itself, which did not exist when it was made, however often h= names
// the field.
func TestAMSSignsOlderAMS(t *testing.T) {
	s := newSealer("filter.example.net", "arc", "ed25519")
	s.headers = "from:subject:arc-message-signature:arc-message-signature"
	_, r := testZone(t, s)
	msg := s.seal(t, testMessage(300), "none", "spf=pass smtp.mailfrom=example.org")
	if res := verify(t, r, msg); res.CV != dnsauth.Pass {
		t.Fatalf("i=1: %+v", res)
	}
	msg = s.seal(t, msg, "pass", "arc=pass")
	if res := verify(t, r, msg); res.CV != dnsauth.Pass {
		t.Fatalf("i=2: %+v", res)
	}
}

// A chain sealed by another implementation: testdata/dkimpy/chain.eml,
// made by dkimpy (python3-dkim 1.1.4) with seal.py beside it, keys in
// keys.txt. A list tagged the subject and added a footer between the
// two seals; the second AMS oversigns From as dkimpy does by default.
func TestDkimpyChain(t *testing.T) {
	msg, err := os.ReadFile("testdata/dkimpy/chain.eml")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile("testdata/dkimpy/keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	txt := map[string]string{}
	for line := range strings.Lines(string(keys)) {
		name, rdata, _ := strings.Cut(strings.TrimSpace(line), " ")
		txt[strings.TrimSuffix(name, ".")] = rdata
	}
	r := suiteServer(t, txt)
	res := verify(t, r, msg)
	if res.CV != dnsauth.Pass || res.Instance != 2 || res.Sealer != "filter.example.net" {
		t.Fatalf("%+v", res)
	}
	if got := describeResults(res.Newest().Results); got != "arc=pass () dkim=fail (header.d=example.org) spf=pass (smtp.mailfrom=lists.example.org)" {
		t.Errorf("newest results: %s", got)
	}
	expectFail(t, "footer changed", verify(t, r, append(msg, "PS\r\n"...)), "body hash did not verify")
	lf := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	if res := verify(t, r, lf); res.CV != dnsauth.Pass {
		t.Errorf("with LF line ends: %+v", res)
	}
}
