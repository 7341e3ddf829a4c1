package received

import (
	"strings"
	"testing"
)

// BenchmarkParse parses the header a Postfix relay writes, as done once per
// relayed message.
func BenchmarkParse(b *testing.B) {
	const postfix = "from helo.example.net (host.example.net [192.0.2.1])\r\n" +
		"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n" +
		"\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n" +
		"\t(No client certificate requested)\r\n" +
		"\tby mx.example.org (Postfix) with ESMTPS id 4WyZ2k3qLbz9sWn\r\n" +
		"\tfor <user@example.org>; Tue,  3 Sep 2024 10:00:00 +0200 (CEST)"
	b.ReportAllocs()
	b.SetBytes(int64(len(postfix)))
	for b.Loop() {
		if _, err := Parse(postfix); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseAllocs keeps Parse free of allocations on success for the
// sample of every writer family (a folded protocol name of several words,
// which must be joined, is the one exception).
func TestParseAllocs(t *testing.T) {
	for _, tc := range samples {
		if strings.Contains(tc.want.With, " ") {
			continue
		}
		if n := testing.AllocsPerRun(20, func() { _, _ = Parse(tc.in) }); n != 0 {
			t.Errorf("%s: %v allocations per Parse", tc.name, n)
		}
	}
}
