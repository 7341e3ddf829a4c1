package arc

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// A sealer for the tests: it adds one ARC set to a message the way a
// filtering relay does (RFC 8617 §5.1), with keys made here. Its header
// selection and data assembly are written apart from the verifier's; the
// field canonicalization is shared (the suite checks it on its own).

// testSealer is one sealing domain with its key.
type testSealer struct {
	domain, selector string
	signer           crypto.Signer
	canon            string // c= of the AMS; "" leaves c= out (simple/simple)
	headers          string // h= of the AMS
}

var (
	testKeysOnce sync.Once
	testRSA      *rsa.PrivateKey
	testEd       ed25519.PrivateKey
)

// testKeys makes the test keys once per process (RSA generation is slow).
func testKeys() (*rsa.PrivateKey, ed25519.PrivateKey) {
	testKeysOnce.Do(func() {
		var err error
		if testRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		_, testEd, _ = ed25519.GenerateKey(rand.Reader)
	})
	return testRSA, testEd
}

// newSealer is a sealer for domain with an RSA or Ed25519 key.
func newSealer(domain, selector, kind string) *testSealer {
	r, e := testKeys()
	s := &testSealer{domain: domain, selector: selector, signer: r, canon: "relaxed/relaxed",
		headers: "from:to:subject:date:message-id:arc-authentication-results"}
	if kind == "ed25519" {
		s.signer = e
	}
	return s
}

// record is the key record to publish for the sealer.
func (s *testSealer) record() string {
	if pub, ok := s.signer.Public().(ed25519.PublicKey); ok {
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	der, _ := x509.MarshalPKIXPublicKey(s.signer.Public())
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

func (s *testSealer) algorithm() string {
	if _, ok := s.signer.(ed25519.PrivateKey); ok {
		return algEd25519
	}
	return algRSA
}

// sign signs a SHA-256 digest of data, as b= wants it.
func (s *testSealer) sign(t testing.TB, data []byte) string {
	t.Helper()
	digest := sha256.Sum256(data)
	var sig []byte
	var err error
	if k, ok := s.signer.(ed25519.PrivateKey); ok {
		sig = ed25519.Sign(k, digest[:])
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.signer.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// seal adds the next ARC set with the given cv= and AAR results.
func (s *testSealer) seal(t testing.TB, msg []byte, cv, results string) []byte {
	t.Helper()
	fields, body := splitMessage(msg)
	inst := 1
	for _, f := range fields {
		if strings.EqualFold(f.name, "ARC-Seal") {
			inst++
		}
	}
	aar := fmt.Sprintf(" i=%d; mx.%s;\r\n\t%s", inst, s.domain, results)
	ams := s.signAMS(t, fields, body, field{"ARC-Authentication-Results", aar})
	prior := s.priorSets(t, fields, inst)
	as := fmt.Sprintf(" i=%d; a=%s; cv=%s; d=%s; s=%s; t=1700000000;\r\n\tb=", inst, s.algorithm(), cv, s.domain, s.selector)
	var data []byte
	data = append(data, prior...)
	data = appendRelaxed(data, "ARC-Authentication-Results", aar)
	data = append(appendRelaxed(append(data, "\r\n"...), "ARC-Message-Signature", ams), "\r\n"...)
	data = appendRelaxed(data, "ARC-Seal", as)
	as += s.sign(t, data)
	top := "ARC-Seal:" + as + "\r\nARC-Message-Signature:" + ams + "\r\nARC-Authentication-Results:" + aar + "\r\n"
	return append([]byte(top), msg...)
}

// signAMS makes the ARC-Message-Signature value of instance inst.
func (s *testSealer) signAMS(t testing.TB, fields []field, body []byte, aar field) string {
	t.Helper()
	bc := &bodyCanon{h: sha256.New(), simple: !strings.HasSuffix(s.canon, "/relaxed")}
	bc.write(body)
	bh := base64.StdEncoding.EncodeToString(bc.sum())
	simple := !strings.HasPrefix(s.canon, "relaxed")
	c := ""
	if s.canon != "" {
		c = " c=" + s.canon + ";"
	}
	inst, _, _ := aarInstance(aar.value)
	ams := fmt.Sprintf(" i=%d; a=%s;%s d=%s; s=%s;\r\n\th=%s; bh=%s; b=",
		inst, s.algorithm(), c, s.domain, s.selector, s.headers, bh)
	// The AAR of this instance goes on top before the AMS is signed:
	// h= picks fields bottom-up (RFC 6376 §5.4.2), so a single
	// arc-authentication-results in h= signs the oldest one.
	all := append([]field{aar}, fields...)
	var data []byte
	taken := map[int]bool{}
	for _, name := range strings.Split(s.headers, ":") {
		for i := len(all) - 1; i >= 0; i-- {
			if !taken[i] && strings.EqualFold(all[i].name, name) {
				taken[i] = true
				data = append(appendCanon(data, simple, all[i].name, all[i].value), "\r\n"...)
				break
			}
		}
	}
	data = appendCanon(data, simple, "ARC-Message-Signature", ams)
	return ams + s.sign(t, data)
}

// priorSets is the relaxed text of the sets before inst, in order,
// each field with its CRLF.
func (s *testSealer) priorSets(t testing.TB, fields []field, inst int) []byte {
	t.Helper()
	var data []byte
	for i := 1; i < inst; i++ {
		for _, want := range []string{"ARC-Authentication-Results", "ARC-Message-Signature", "ARC-Seal"} {
			for _, f := range fields {
				if strings.EqualFold(f.name, want) && strings.Contains(f.value, fmt.Sprintf("i=%d;", i)) {
					data = append(appendRelaxed(data, f.name, f.value), "\r\n"...)
				}
			}
		}
	}
	return data
}

// publish serves the sealers' keys from srv.
func publish(t testing.TB, srv *dnstest.Server, sealers ...*testSealer) {
	for _, s := range sealers {
		srv.MustAdd(t, fmt.Sprintf("%s._domainkey.%s. 300 IN TXT \"%s\"", s.selector, s.domain, dnstest.TXTStrings(s.record())))
	}
}
