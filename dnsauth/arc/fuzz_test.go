package arc

import (
	"context"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// fuzzSeeds adds chains sealed with this process's keys, some of the
// suite's messages when the data is there, and hostile shapes; it
// returns the sealers whose keys the zone must serve.
func fuzzSeeds(f *testing.F) []*testSealer {
	msg, hops := threeHops(f, testMessage(600))
	f.Add(msg)
	s := newSealer("filter.example.net", "simple", "ed25519")
	s.canon = "simple/simple"
	f.Add(s.seal(f, []byte("From: a@example.org\nSubject: x\n\n  body \n\n\n"), "none", "spf=pass smtp.mailfrom=example.org"))
	if _, ok := dnstest.OptionalTestdata(f, "arc-valimail", "arc-draft-validation-tests.yml"); ok {
		for _, sc := range loadSuite(f, "arc-draft-validation-tests.yml") {
			for i, c := range sc.cases {
				if i%8 == 0 {
					f.Add(toCRLF(c.message))
				}
			}
		}
	}
	f.Add([]byte(fakeSet(2, "pass") + fakeSet(1, "none") + "From: a@example.org\r\n\r\nx"))
	f.Add([]byte("ARC-Seal: i=1; cv=none\r\nARC-Seal: i=1\r\n\r\n"))
	return append(hops, s)
}

// stream feeds fields and body through a Verifier in uneven chunks.
func stream(r dnsauth.DNS, fields []field, body []byte) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v := NewVerifier(ctx, r, time.Now())
	for _, f := range fields {
		v.Header(f.name, f.value)
	}
	for i, size := 0, 1; len(body) > 0; i++ {
		n := min(len(body), size)
		v.Body(body[:n])
		body = body[n:]
		size = size*3 + i%2
	}
	return v.Close()
}

// hasARCField reports whether a header field has an ARC name.
func hasARCField(fields []field) bool {
	for _, f := range fields {
		if fieldKind(f.name) != kindOther {
			return true
		}
	}
	return false
}

// Any input gets a decided result that is consistent with itself and
// does not depend on how the body is cut into chunks.
func FuzzVerify(f *testing.F) {
	sealers := fuzzSeeds(f)
	_, r := testZone(f, sealers...)
	f.Fuzz(func(t *testing.T, msg []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res := Verify(ctx, r, msg, time.Now())
		fields, body := splitMessage(msg)
		switch res.CV {
		case dnsauth.None:
			if hasARCField(fields) || res.Reason != "" || res.Instance != 0 {
				t.Errorf("none for %+v", res)
			}
		case dnsauth.Pass:
			if res.Instance < 1 || len(res.Sets) != res.Instance || res.Sealer != res.Sets[res.Instance-1].Sealer || res.Reason != "" {
				t.Errorf("pass with %+v", res)
			}
		case dnsauth.Fail, dnsauth.TempError:
			if res.Reason == "" || !hasARCField(fields) {
				t.Errorf("%s without a reason or an ARC field: %+v", res.CV, res)
			}
		default:
			t.Errorf("cv=%q", res.CV)
		}
		if res.Sets != nil && len(res.Sets) != res.Instance {
			t.Errorf("%d sets for instance %d", len(res.Sets), res.Instance)
		}
		if again := stream(r, fields, body); again.CV != res.CV || again.Reason != res.Reason {
			t.Errorf("in chunks: %s %q; at once: %s %q", again.CV, again.Reason, res.CV, res.Reason)
		}
	})
}
