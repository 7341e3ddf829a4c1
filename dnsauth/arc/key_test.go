package arc

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	r, e := testKeys()
	spki, _ := x509.MarshalPKIXPublicKey(&r.PublicKey)
	rsaP := base64.StdEncoding.EncodeToString(spki)
	pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&r.PublicKey))
	edP := base64.StdEncoding.EncodeToString(e.Public().(ed25519.PublicKey))
	edAsPKIX, _ := x509.MarshalPKIXPublicKey(e.Public())
	for record, want := range map[string]string{
		"v=DKIM1; k=rsa; p=" + rsaP:                      algRSA,
		"p=" + rsaP[:40] + " \t" + rsaP[40:]:             algRSA,
		"k=rsa; h=sha1:sha256; s=email; t=y; p=" + pkcs1: algRSA,
		"v=DKIM1; k=ed25519; p=" + edP:                   algEd25519,
		"s=*; k=ed25519; p=" + edP:                       algEd25519,
		"k=rsa; v=DKIM1; p=" + rsaP:                      "v=",
		"v=DKIM2; p=" + rsaP:                             "v=",
		"h=sha1; p=" + rsaP:                              "sha256",
		"s=other; p=" + rsaP:                             "not for email",
		"k=dsa; p=" + rsaP:                               "unknown key type",
		"k=rsa":                                          "without p=",
		"v=DKIM1; p=":                                    "revoked",
		"p=not*base64":                                   "not base64",
		"p=" + base64.StdEncoding.EncodeToString([]byte("junk")): "not an RSA public key",
		"p=" + base64.StdEncoding.EncodeToString(edAsPKIX):       "not RSA",
		"k=ed25519; p=" + rsaP:                                   "not 32 bytes",
		"p=" + rsaP + "; x=" + strings.Repeat("a", 5000):         "over 4096 bytes",
		"p=" + rsaP + ";; k=rsa":                                 "stray",
	} {
		k, err := parseKey(record)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = k.algorithm
		}
		if !strings.Contains(got, want) {
			t.Errorf("%.50q: got %q, want %q", record, got, want)
		}
	}
}
