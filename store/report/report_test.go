package report

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// stream is a week of mail as report-only mode records it: own outbound
// mail, a newsletter service signing with its own domain from its own
// servers, a CRM whose SPF passes for its own bounce domain, forgeries
// through each door, a forger signing with a domain of its own, and mail
// of another protected domain.
func stream() []store.Record {
	var recs []store.Record
	add := func(n int, r store.Record) {
		for i := range n {
			r.Time = now.Add(-time.Duration(n-i) * 7 * time.Hour)
			recs = append(recs, r)
		}
	}
	own := store.Record{Domain: "example.org", Seen: []string{"envelope", "from"}, MailFrom: "example.org",
		FromDomains: []string{"example.org"}, ClientIP: "203.0.113.10", ClientName: "out.example.org", Class: "outbound",
		DKIM: []store.Result{{Name: "example.org", Result: "pass"}}, Verdict: "accept"}
	add(5, own)
	saas := store.Record{Domain: "example.org", Seen: []string{"from"}, MailFrom: "bounce.mcsv.net", FromDomains: []string{"example.org"},
		ClientIP: "198.51.100.7", ClientName: "mail7.mcsv.net", Class: "internet", SPF: "pass", SPFDomain: "bounce.mcsv.net",
		DKIM: []store.Result{{Name: "mcsv.net", Result: "pass"}}, DMARC: []store.Result{{Name: "example.org", Result: "fail"}},
		Verdict: "accept", Rule: "header-forgery", Would: "reject"}
	add(4, saas)
	crm := store.Record{Domain: "example.org", Seen: []string{"envelope", "from"}, MailFrom: "example.org", FromDomains: []string{"example.org"},
		ClientIP: "192.0.2.50", ClientName: "smtp2.crm.example", Class: "internet", SPF: "softfail", SPFDomain: "example.org",
		DKIM: []store.Result{{Name: "crm.example", Result: "pass"}}, Verdict: "accept", Rule: "envelope-forgery", Would: "reject"}
	add(2, crm)
	header := store.Record{Domain: "example.org", Seen: []string{"from"}, MailFrom: "spammer.example", FromDomains: []string{"example.org"},
		ClientIP: "192.0.2.66", Class: "internet", SPF: "pass", SPFDomain: "spammer.example", Verdict: "accept", Rule: "header-forgery", Would: "reject"}
	add(6, header)
	signed := header
	signed.ClientIP, signed.DKIM = "192.0.2.70", []store.Result{{Name: "spammer.example", Result: "pass"}}
	add(1, signed)
	// SPF pass for its own domain, from a server named after it: what
	// a forger has as easily as a service provider.
	ownSPF := header
	ownSPF.ClientIP, ownSPF.ClientName = "203.0.113.66", "mail.spammer.example"
	add(1, ownSPF)
	env := store.Record{Domain: "example.org", Seen: []string{"envelope"}, MailFrom: "example.org", ClientIP: "2001:db8:5::9",
		Class: "internet", SPF: "fail", SPFDomain: "example.org", Verdict: "accept", Rule: "envelope-forgery", Would: "reject"}
	add(3, env)
	direct := store.Record{Domain: "example.org", Seen: []string{"rcpt"}, Rcpt: "ceo@example.org", MailFrom: "partner.example",
		ClientIP: "192.0.2.66", Class: "internet", SPF: "pass", SPFDomain: "partner.example", Verdict: "accept", Rule: "direct-delivery", Would: "reject"}
	add(2, direct)
	directMsg := direct
	directMsg.Seen, directMsg.Rcpt, directMsg.FromDomains = []string{"from"}, "", []string{"example.org"}
	add(1, directMsg)
	relay := store.Record{Domain: "example.org", Seen: []string{"from"}, FromDomains: []string{"example.org"}, Class: "internet",
		Relay: "filter", Verdict: "accept", Rule: "relay-trace", Would: "tempfail"}
	add(1, relay)
	edge := store.Record{Domain: "edge.example", Seen: []string{"from"}, MailFrom: "x.example", FromDomains: []string{"edge.example"},
		ClientIP: "192.0.2.99", Class: "internet", SPF: "none", Verdict: "reject", Rule: "header-forgery"}
	add(2, edge)
	return recs
}

func buildT(t *testing.T, o Options) *Report {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Insert(context.Background(), stream()); err != nil {
		t.Fatal(err)
	}
	o.Now = now
	rep, err := Build(context.Background(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", name, got)
	}
}

func TestReportGolden(t *testing.T) {
	rep := buildT(t, Options{Since: now.Add(-7 * 24 * time.Hour)})
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "week.txt", text.Bytes())
	golden(t, "week.json", js.Bytes())
}

// The facts the golden file shows, checked one by one so that a wrong
// golden file cannot pass unnoticed.
func TestReportFacts(t *testing.T) {
	rep := buildT(t, Options{Domain: "example.org"})
	if len(rep.Domains) != 1 || rep.Domains[0].Name != "example.org" {
		t.Fatalf("domains %+v", rep.Domains)
	}
	d := rep.Domains[0]
	if d.Messages != 24 {
		t.Errorf("messages %d, want 24 (the 2 refused recipients are not messages)", d.Messages)
	}
	if len(d.Fixes) != 2 || d.Fixes[0].Group != "mcsv.net d=mcsv.net" || d.Fixes[1].Group != "crm.example d=crm.example" {
		t.Fatalf("fixes %+v", d.Fixes)
	}
	if e := d.Fixes[0].Entry; e != `senders = [{ name = "mcsv.net", dkim = "mcsv.net" }]` {
		t.Errorf("entry %s", e)
	}
	if s := strings.Join(d.Fixes[1].Steps, "\n"); !strings.Contains(s, "add ip4:192.0.2.50 to the SPF record of example.org") {
		t.Errorf("CRM steps lack the SPF mechanism:\n%s", s)
	}
	doors := map[string]int{}
	for _, door := range d.Forgeries {
		doors[door.Door] = door.Count
	}
	want := map[string]int{DoorHeader: 8, DoorEnvelope: 3, DoorDirect: 2, DoorRelay: 1}
	for k, v := range want {
		if doors[k] != v {
			t.Errorf("door %s: %d, want %d (all: %v)", k, doors[k], v, doors)
		}
	}
	if len(doors) != len(want) {
		t.Errorf("doors %v, want %v", doors, want)
	}
}

func TestReportSinceAndProgress(t *testing.T) {
	var prog bytes.Buffer
	rep := buildT(t, Options{Since: now.Add(-10 * time.Hour), Progress: &prog, ProgressEvery: 2})
	if rep.Records != 11 {
		t.Errorf("records in the last 10 hours: %d, want 11", rep.Records)
	}
	if !strings.Contains(prog.String(), "report: read 4 of 11 records (36%)") || !strings.HasSuffix(prog.String(), "report: read 11 records\n") {
		t.Errorf("progress:\n%s", prog.String())
	}
	prog.Reset()
	buildT(t, Options{Progress: &prog})
	if prog.Len() != 0 {
		t.Errorf("progress on a small store: %s", prog.String())
	}
}
