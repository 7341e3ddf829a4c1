package dmarc

import (
	"context"
	"errors"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// The result carries the record that applied as Check parsed it, so the
// report of `spoofguard check` shows its tags without parsing it again;
// an unusable record comes with its text and the reason it is unusable.
func TestCheckKeepsTheParsedRecord(t *testing.T) {
	const good = "v=DMARC1; p=quarantine; sp=reject; pct=50"
	const broken = "v=DMARC1; p=bogus"
	r, _ := dmarcTestDNS(t, `_dmarc.example.org. TXT "`+good+`"
_dmarc.broken.example. TXT "`+broken+`"`)
	ctx := context.Background()
	opts := Options{Rand: func() int { return 0 }}

	res := Check(ctx, r, Input{FromDomain: "example.org"}, opts)
	rec := res.Record
	if rec == nil || res.RecordErr != nil {
		t.Fatalf("example.org: Record %+v, RecordErr %v; want the parsed record", rec, res.RecordErr)
	}
	if rec.Raw != good || rec.Policy != "quarantine" || rec.SubdomainPolicy != "reject" || rec.Percent != 50 {
		t.Errorf("example.org: Record %+v", rec)
	}

	res = Check(ctx, r, Input{FromDomain: "broken.example"}, opts)
	var re *RecordError
	if res.Result != dnsauth.PermError || res.Record == nil || res.Record.Raw != broken || !errors.As(res.RecordErr, &re) {
		t.Errorf("broken.example: %s, Record %+v, RecordErr %v; want permerror with the text and a *RecordError",
			res.Result, res.Record, res.RecordErr)
	}

	res = Check(ctx, r, Input{FromDomain: "none.example"}, opts)
	if res.Result != dnsauth.None || res.Record != nil || res.RecordErr != nil {
		t.Errorf("none.example: %s, Record %+v, RecordErr %v; want none without a record", res.Result, res.Record, res.RecordErr)
	}
}
