package audit

import (
	"context"
	"strings"
	"testing"
)

// TestAuditARCSealers: each sealer of a relay is checked for a key under
// the relay's selectors; a relay without selectors is told it cannot be.
func TestAuditARCSealers(t *testing.T) {
	e := auditEngine(t, `
arc-2026._domainkey.filter.example.net. IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
arc-2026._domainkey.revoked.example.    IN TXT "v=DKIM1; p="
`, `
[dns]
servers = ["%s"]
timeout = "300ms"
attempts = 1
[[relay]]
name = "filter"
networks = ["198.51.100.0/24"]
arc_sealers = ["filter.example.net", "revoked.example", "nokey.example"]
arc_selectors = ["arc-2025", "arc-2026"]
[[relay]]
name = "blind"
networks = ["198.51.101.0/24"]
arc_sealers = ["blind.example"]
`)
	var got []string
	for _, f := range Run(context.Background(), e, []string{}).Config {
		if strings.HasSuffix(f.Check, " arc") {
			got = append(got, string(f.Status)+" "+f.Check+" "+f.Detail)
		}
	}
	want := []string{
		`PASS relay "filter" arc filter.example.net publishes a key under selector(s) arc-2026`,
		`FAIL relay "filter" arc revoked.example publishes no ARC key: no record at arc-2025._domainkey.revoked.example; the record at arc-2026._domainkey.revoked.example has no key (p= empty: revoked)`,
		`FAIL relay "filter" arc nokey.example publishes no ARC key: no record at arc-2025._domainkey.nokey.example; no record at arc-2026._domainkey.nokey.example`,
		`WARN relay "blind" arc the keys of the ARC sealers blind.example cannot be checked: no arc_selectors`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ARC findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
