package arc

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Key records are DKIM key records (RFC 6376 §3.6.1), published at
// <s>._domainkey.<d> for ARC as for DKIM (RFC 8617 §4.1.3).

// Limits on key records.
const (
	maxKeyRecord = 4 << 10 // one TXT record (RSA-16384 needs 2.8 KiB)
	minRSABits   = 1024    // RFC 8301 §3.2
	maxRSABits   = 16384
)

// tempError is a key that could not be had for now: the chain gets
// temperror, never fail, unless something else fails for good.
type tempError struct{ msg string }

func (e *tempError) Error() string { return e.msg }

// pubKey is a usable public key and the algorithm it signs with.
type pubKey struct {
	algorithm string // algRSA or algEd25519
	rsa       *rsa.PublicKey
	ed        ed25519.PublicKey
}

// lookupKey fetches and parses the key of d= and s=. A temporary DNS
// failure is a *tempError; any other error is permanent.
func lookupKey(ctx context.Context, dns dnsauth.DNS, selector, domain string) (*pubKey, error) {
	name := selector + "._domainkey." + domain
	txts, err := dns.LookupTXT(ctx, name)
	switch {
	case err != nil && dnsauth.IsNotFound(err):
		return nil, fmt.Errorf("no key at %s", clip(name))
	case err != nil:
		return nil, &tempError{fmt.Sprintf("key lookup for %s failed: %v", clip(name), err)}
	case len(txts) == 0:
		return nil, fmt.Errorf("no key at %s", clip(name))
	}
	var first error
	for _, txt := range txts {
		k, err := parseKey(txt)
		if err == nil {
			return k, nil
		}
		if first == nil {
			first = fmt.Errorf("key at %s: %v", clip(name), err)
		}
	}
	return nil, first
}

// parseKey reads a key record: v= first when present, h= offering
// sha256 when present, k= rsa (the default) or ed25519, s= allowing
// email, p= the key; an empty p= is a revoked key.
func parseKey(txt string) (*pubKey, error) {
	if len(txt) > maxKeyRecord {
		return nil, fmt.Errorf("key record over %d bytes", maxKeyRecord)
	}
	tags, err := parseTags(txt)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(tags))
	for i, t := range tags {
		if t.name == "v" && (i > 0 || t.value != "DKIM1") {
			return nil, errors.New("bad v= in key record")
		}
		m[t.name] = t.value
	}
	if err := checkKeyOptions(m); err != nil {
		return nil, err
	}
	p, ok := m["p"]
	if !ok {
		return nil, errors.New("key record without p=")
	}
	if stripFWS(p) == "" {
		return nil, errors.New("key revoked (empty p=)")
	}
	der, err := decodeBase64("p", p)
	if err != nil {
		return nil, err
	}
	return decodeKey(m["k"], der)
}

// checkKeyOptions applies h= and s= of a key record.
func checkKeyOptions(m map[string]string) error {
	if h, ok := m["h"]; ok && !listHas(h, "sha256") {
		return errors.New("key does not allow sha256 (h=)")
	}
	if s, ok := m["s"]; ok && !listHas(s, "*") && !listHas(s, "email") {
		return errors.New("key is not for email (s=)")
	}
	return nil
}

// listHas reports whether a colon-separated list holds v.
func listHas(list, v string) bool {
	for item := range strings.SplitSeq(list, ":") {
		if trimFWS(item) == v {
			return true
		}
	}
	return false
}

// decodeKey turns p= into a key of type k=.
func decodeKey(k string, der []byte) (*pubKey, error) {
	switch k {
	case "", "rsa":
		return decodeRSA(der)
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, errors.New("ed25519 key is not 32 bytes")
		}
		return &pubKey{algorithm: algEd25519, ed: ed25519.PublicKey(der)}, nil
	}
	return nil, fmt.Errorf("unknown key type k=%s", clip(k))
}

// decodeRSA reads an RSA key in SubjectPublicKeyInfo form (RFC 6376
// §3.6.1), or bare PKCS#1 as some publishers write it.
func decodeRSA(der []byte) (*pubKey, error) {
	var pub *rsa.PublicKey
	if any, err := x509.ParsePKIXPublicKey(der); err == nil {
		r, ok := any.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("k=rsa but the key is not RSA")
		}
		pub = r
	} else if r, err := x509.ParsePKCS1PublicKey(der); err == nil {
		pub = r
	} else {
		return nil, errors.New("p= is not an RSA public key")
	}
	if n := pub.N.BitLen(); n < minRSABits || n > maxRSABits {
		return nil, fmt.Errorf("RSA key of %d bits (RFC 8301 §3.2 needs %d to %d)", n, minRSABits, maxRSABits)
	}
	return &pubKey{algorithm: algRSA, rsa: pub}, nil
}

// verify checks a signature over a SHA-256 digest. Ed25519 signs the
// digest itself (RFC 8463 §3).
func (k *pubKey) verify(algorithm string, digest, sig []byte) error {
	if algorithm != k.algorithm {
		return fmt.Errorf("a=%s does not match the key's type", algorithm)
	}
	if k.rsa != nil {
		if rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) != nil {
			return errors.New("signature did not verify")
		}
		return nil
	}
	if !ed25519.Verify(k.ed, digest, sig) {
		return errors.New("signature did not verify")
	}
	return nil
}
