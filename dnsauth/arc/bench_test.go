package arc

import (
	"context"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// benchStream feeds a split message through a Verifier as the milter
// does: each field, then the body in chunks of at most 64 KiB.
func benchStream(r dnsauth.DNS, fields []field, body []byte) Result {
	v := NewVerifier(context.Background(), r, time.Now())
	for _, f := range fields {
		v.Header(f.name, f.value)
	}
	v.EndOfHeaders()
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		v.Body(rest[:n])
		rest = rest[n:]
	}
	return v.Close()
}

// A 4 KB message under a three-set chain (RSA-2048, Ed25519, RSA-2048
// seals): four signatures checked, the body hashed once, the keys from
// the resolver's cache after the first round.
func BenchmarkARC3Instances(b *testing.B) {
	msg, hops := threeHops(b, testMessage(4096))
	_, r := testZone(b, hops...)
	fields, body := splitMessage(msg)
	if res := benchStream(r, fields, body); res.CV != dnsauth.Pass {
		b.Fatalf("%+v", res)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if res := benchStream(r, fields, body); res.CV != dnsauth.Pass {
			b.Fatal(res.Reason)
		}
	}
}

// The same message without its ARC sets: what a Verifier costs when
// there is nothing to validate.
func BenchmarkNoARC(b *testing.B) {
	fields, body := splitMessage(testMessage(4096))
	b.ReportAllocs()
	for b.Loop() {
		if res := benchStream(nil, fields, body); res.CV != dnsauth.None {
			b.Fatal(res.Reason)
		}
	}
}
