package arc

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// expectFail checks a decided fail whose reason says why.
func expectFail(t *testing.T, what string, res Result, reason string) {
	t.Helper()
	if res.CV != dnsauth.Fail || !strings.Contains(res.Reason, reason) {
		t.Errorf("%s: cv=%s reason %q, want fail with %q", what, res.CV, res.Reason, reason)
	}
}

// A key that cannot be had for now gives temperror, never fail; a key
// that is not there, or revoked, fails.
func TestKeyLookupFailures(t *testing.T) {
	msg, hops := threeHops(t, testMessage(1024))
	newest := hops[2].selector + "._domainkey." + hops[2].domain
	for _, fault := range []dnstest.Fault{dnstest.ServFail, dnstest.Timeout, dnstest.Refused, dnstest.Garbage} {
		srv, r := testZone(t, hops...)
		srv.SetFault(newest, fault)
		res := verify(t, r, msg)
		if res.CV != dnsauth.TempError || !strings.Contains(res.Reason, "key lookup for "+newest) {
			t.Errorf("fault %d: %+v", fault, res)
		}
		if res.Instance != 3 || res.Sealer != "filter.example.net" || len(res.Sets) != 3 {
			t.Errorf("fault %d: the chain's facts are lost: %+v", fault, res)
		}
	}
	srv, r := testZone(t, hops...)
	srv.Remove(newest)
	expectFail(t, "no key", verify(t, r, msg), "no key at "+newest)
	srv, r = testZone(t, hops[:2]...)
	srv.MustAdd(t, newest+". 300 IN TXT \"v=DKIM1; k=rsa; p=\"")
	expectFail(t, "revoked key", verify(t, r, msg), "revoked")
}

// A broken seal decides even when another key cannot be had: the DNS
// failure does not soften a fail it could not change.
func TestTempErrorDoesNotHideFail(t *testing.T) {
	msg, hops := threeHops(t, testMessage(1024))
	srv, r := testZone(t, hops...)
	srv.SetFault(hops[2].selector+"._domainkey."+hops[2].domain, dnstest.ServFail)
	broken := strings.Replace(string(msg), "dkim=fail (body changed)", "dkim=pass (body changed)", 1)
	expectFail(t, "AS(2) broken, key of 3 SERVFAIL", verify(t, r, []byte(broken)), "ARC-Seal i=2: signature did not verify")
}

// Abort, or the end of the context, ends a wait on a silent DNS server
// at once with temperror, and leaves no goroutine or socket behind.
func TestAbortAndDeadline(t *testing.T) {
	msg, hops := threeHops(t, testMessage(1024))
	srv, r := testZone(t, hops...)
	srv.SetDelay(3 * time.Second)
	before := dnstest.CountResources(t)
	start := time.Now()
	v := NewVerifier(context.Background(), r, time.Now())
	fields, body := splitMessage(msg)
	for _, f := range fields {
		v.Header(f.name, f.value)
	}
	v.Body(body)
	v.Abort()
	res := v.Close()
	if res.CV != dnsauth.TempError {
		t.Errorf("after Abort: %+v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if res := Verify(ctx, r, msg, time.Now()); res.CV != dnsauth.TempError {
		t.Errorf("past the deadline: %+v", res)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if again := v.Close(); again.CV != res.CV || again.Reason != res.Reason {
		t.Errorf("Close again: %+v", again)
	}
	dnstest.ExpectNoLeak(t, before, 2, 5*time.Second, "aborted ARC validations")
}

// fakeSet is an ARC set with well-formed tags and meaningless signatures.
func fakeSet(i int, cv string) string {
	return fmt.Sprintf("ARC-Seal: i=%d; a=rsa-sha256; cv=%s; d=example.net; s=s; b=AAAA\r\n"+
		"ARC-Message-Signature: i=%d; a=rsa-sha256; d=example.net; s=s; h=from; bh=AAAA; b=AAAA\r\n"+
		"ARC-Authentication-Results: i=%d; mx.example.net; spf=pass smtp.mailfrom=example.org\r\n", i, cv, i, i)
}

// Hostile structures get a decided fail with the reason, quickly, and
// without a DNS query.
func TestHostileStructure(t *testing.T) {
	srv, r := testZone(t)
	body := "From: a@example.org\r\n\r\nhello\r\n"
	many := func(n int) string {
		var b strings.Builder
		for i := n; i >= 1; i-- {
			b.WriteString(fakeSet(i, map[bool]string{true: "none", false: "pass"}[i == 1]))
		}
		return b.String()
	}
	for name, c := range map[string]struct{ msg, reason string }{
		"100 instances":     {many(100) + body, "more than 50 ARC sets"},
		"instance 51":       {fakeSet(51, "pass") + body, "invalid instance i=51"},
		"instance 0":        {fakeSet(0, "none") + body, "invalid instance i=0"},
		"duplicate set":     {fakeSet(1, "none") + fakeSet(1, "none") + body, "more than one ARC-Seal for i=1"},
		"gap":               {fakeSet(3, "pass") + fakeSet(1, "none") + body, "no ARC-Authentication-Results for i=2"},
		"cv=fail newest":    {fakeSet(2, "fail") + fakeSet(1, "none") + body, "records cv=fail"},
		"cv=fail older":     {fakeSet(2, "pass") + fakeSet(1, "fail") + body, "i=1 has cv=fail"},
		"cv=pass at i=1":    {fakeSet(1, "pass") + body, "i=1 has cv=pass"},
		"only an AAR":       {"ARC-Authentication-Results: i=1; mx.example.net; none\r\n" + body, "no ARC-Message-Signature for i=1"},
		"garbage seal":      {"ARC-Seal: ;;;\r\n" + body, "malformed ARC-Seal"},
		"seal without tags": {"ARC-Seal:\r\n" + body, "malformed ARC-Seal"},
		"AAR without i=":    {"ARC-Authentication-Results: mx.example.net; none\r\n" + body, "does not start with i="},
		"long name spoof":   {strings.Replace(fakeSet(1, "none"), "ARC-Seal", "ARC-\u017feal", 1) + body, "no ARC-Seal for i=1"},
	} {
		start := time.Now()
		res := verify(t, r, []byte(c.msg))
		expectFail(t, name, res, c.reason)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v", name, d)
		}
	}
	if q := srv.Queries(); q != 0 {
		t.Errorf("%d DNS queries for chains broken before any key is needed", q)
	}
}

// Past the header limits a chain is not validated: a decided fail.
func TestHugeHeader(t *testing.T) {
	msg, hops := threeHops(t, testMessage(512))
	_, r := testZone(t, hops...)
	junk := "X-Junk: " + strings.Repeat("j", 1000) + "\r\n"
	big := []byte(strings.Repeat(junk, 1100) + string(msg))
	expectFail(t, "1.1 MB header", verify(t, r, big), "header block over")
	many := []byte(strings.Repeat("X-J: j\r\n", 1001) + string(msg))
	expectFail(t, "1001 more fields", verify(t, r, many), "header block over")
	line := []byte("ARC-Seal: " + strings.Repeat("a", 2<<20) + "\r\n" + string(msg))
	expectFail(t, "2 MB field", verify(t, r, line), "header block over")
	if res := verify(t, r, []byte(strings.Repeat(junk, 1100)+"\r\nbody\r\n")); res.CV != dnsauth.None {
		t.Errorf("a huge header without ARC: %+v", res)
	}
}

// Fifty sets (the most RFC 8617 allows) validate; every seal is checked.
func TestFiftyInstances(t *testing.T) {
	s := newSealer("filter.example.net", "ed", "ed25519")
	srv, r := testZone(t, s)
	msg := testMessage(256)
	for i := 1; i <= MaxInstances; i++ {
		msg = s.seal(t, msg, map[bool]string{true: "none", false: "pass"}[i == 1], "arc=pass")
	}
	start := time.Now()
	res := verify(t, r, msg)
	if res.CV != dnsauth.Pass || res.Instance != 50 || len(res.Sets) != 50 {
		t.Fatalf("%s %s instance %d", res.CV, res.Reason, res.Instance)
	}
	t.Logf("50 sets validated in %v with %d DNS queries", time.Since(start), srv.Queries())
	// Every seal covers set 1, and they are checked newest first.
	broken := strings.Replace(string(msg), "ARC-Message-Signature: i=1;", "ARC-Message-Signature: i=1; z=x;", 1)
	expectFail(t, "set 1 changed under 50 seals", verify(t, r, []byte(broken)), "ARC-Seal i=50: signature did not verify")
}

// AMS tags the verifier refuses before any key lookup.
func TestAMSRefusals(t *testing.T) {
	s := newSealer("filter.example.net", "arc", "rsa")
	_, r := testZone(t, s)
	msg := string(s.seal(t, testMessage(512), "none", "spf=pass smtp.mailfrom=example.org"))
	ams := regexp.MustCompile(`ARC-Message-Signature: i=1;`)
	for tag, reason := range map[string]string{
		"x=1000;":          "expired (x=)",
		"l=10;":            "l= (a partial body signature)",
		"q=dns/other;":     "unsupported query method",
		"a=rsa-sha1; z=1;": "duplicate tag a=",
		"A=rsa-sha256;":    "",
	} {
		changed := ams.ReplaceAllString(msg, "ARC-Message-Signature: i=1; "+tag)
		res := verify(t, r, []byte(changed))
		expectFail(t, tag, res, reason)
	}
	// The key's type must match a=.
	edKey := newSealer("filter.example.net", "arc", "ed25519")
	_, r2 := testZone(t, edKey)
	expectFail(t, "RSA signature, Ed25519 key", verify(t, r2, []byte(msg)), "does not match the key's type")
}

// A sealed AAR that cannot be read to its end still lets the chain pass;
// what was read is kept with the error.
func TestUnreadableAAR(t *testing.T) {
	s := newSealer("filter.example.net", "arc", "ed25519")
	_, r := testZone(t, s)
	msg := s.seal(t, testMessage(256), "none", "spf=pass smtp.mailfrom=example.org; dkim")
	res := verify(t, r, msg)
	n := res.Newest()
	if res.CV != dnsauth.Pass || n == nil || len(n.Results) != 1 || n.ResultsError == "" {
		t.Fatalf("%+v", res)
	}
}

// Without ARC fields the verifier decides none, drops the body unread
// and costs next to nothing.
func TestNoARC(t *testing.T) {
	fields, body := splitMessage(testMessage(4096))
	allocs := testing.AllocsPerRun(100, func() {
		v := NewVerifier(context.Background(), nil, time.Time{})
		for _, f := range fields {
			v.Header(f.name, f.value)
		}
		v.Body(body)
		if res := v.Close(); res.CV != dnsauth.None || res.Instance != 0 || res.Sets != nil {
			t.Fatalf("%+v", res)
		}
	})
	if allocs > 8 {
		t.Errorf("%.0f allocations for a message without ARC", allocs)
	}
}

// White space before the colon (RFC 5322 §4.5) does not hide a field,
// from the chain or from h=.
func TestSpaceBeforeColon(t *testing.T) {
	s := newSealer("filter.example.net", "arc", "ed25519")
	_, r := testZone(t, s)
	msg := string(s.seal(t, testMessage(300), "none", "spf=pass smtp.mailfrom=example.org"))
	spaced := strings.Replace(msg, "ARC-Seal:", "ARC-Seal :", 1)
	if res := verify(t, r, []byte(spaced)); res.CV != dnsauth.Pass {
		t.Errorf("ARC-Seal with a space before the colon: %+v", res)
	}
	spaced = strings.Replace(msg, "Subject: quarterly", "Subject\t: quarterly", 1)
	if res := verify(t, r, []byte(spaced)); res.CV != dnsauth.Pass {
		t.Errorf("signed Subject with a tab before the colon: %+v", res)
	}
	if res := verify(t, r, []byte(strings.Replace(msg, "ARC-Seal:", "X-ARC-Seal:", 1))); res.CV != dnsauth.Fail {
		t.Errorf("a renamed seal: %+v", res)
	}
}
