package milter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/store"
)

// The daemon records, in report-only mode, a forgery of a protected From
// and a recipient direct delivery would refuse; mail that names no
// protected domain leaves no record. The records are written by the time
// the daemon has shut down, and counted.
func TestDaemonRecordsDecisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spoofguard.db")
	w := newDaemonWorld(t, "mode = \"report-only\"\n[store]\npath = \""+path+"\"")
	addr := w.d.Addr().String()
	send(t, addr, "192.0.2.66", "spam.example", "", "x@spammer.example", []string{"user@edge.example"},
		w.message("CEO <ceo@edge.example>", false, ""))
	send(t, addr, "192.0.2.66", "spam.example", "", "x@spammer.example", []string{"user@example.org"},
		w.message("x@spammer.example", false, ""))
	send(t, addr, "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"},
		w.message("alice@partner.example", true, "mail.partner.example 192.0.2.30"))
	send(t, addr, "192.0.2.66", "mx.edge.example", "", "x@spammer.example", []string{"user@edge.example"},
		w.message("CEO <ceo@edge.example>", false, ""))
	w.d.Shutdown()

	var metrics bytes.Buffer
	w.d.Metrics().WriteTo(&metrics)
	if !strings.Contains(metrics.String(), "spoofguard_store_records_written_total 3") {
		t.Errorf("metrics:\n%s", grepLines(metrics.String(), "spoofguard_store"))
	}
	recs := readStore(t, store.Options{Path: path})
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	if helo := recs[2]; helo.Domain != "edge.example" || strings.Join(helo.Seen, ",") != "helo,from" || helo.Helo != "mx.edge.example" {
		t.Errorf("HELO record %+v", helo)
	}
	forged, direct := recs[0], recs[1]
	if forged.Domain != "edge.example" || strings.Join(forged.Seen, ",") != "from" || forged.ClientIP != "192.0.2.66" ||
		forged.MailFrom != "spammer.example" || forged.Verdict != "accept" || forged.Would != "reject" ||
		forged.Rule != "header-forgery" || forged.Class != "internet" || forged.Rcpt != "" {
		t.Errorf("forgery record %+v", forged)
	}
	if direct.Domain != "example.org" || direct.Rcpt != "user@example.org" || strings.Join(direct.Seen, ",") != "rcpt" ||
		direct.Rule != "direct-delivery" || direct.Would != "reject" || direct.Verdict != "accept" {
		t.Errorf("direct-delivery record %+v", direct)
	}
}

// A store that cannot be reached (nothing listens on the PostgreSQL
// port) changes nothing for the mail: replies come at once and the lost
// records are counted.
func TestDaemonStoreDown(t *testing.T) {
	w := newDaemonWorld(t, "mode = \"report-only\"\n[store]\nurl = \"postgres://u:p@127.0.0.1:1/none?connect_timeout=1\"")
	addr := w.d.Addr().String()
	for range 5 {
		start := time.Now()
		r := send(t, addr, "192.0.2.66", "spam.example", "", "x@spammer.example", []string{"user@edge.example"},
			w.message("CEO <ceo@edge.example>", false, ""))
		if r.stage != "eom" || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("transaction ended at %s after %v", r.stage, time.Since(start))
		}
	}
	w.d.Shutdown()
	var metrics bytes.Buffer
	w.d.Metrics().WriteTo(&metrics)
	if !strings.Contains(metrics.String(), `spoofguard_store_records_dropped_total{reason="store_error"} 5`) {
		t.Errorf("metrics:\n%s", grepLines(metrics.String(), "spoofguard_store"))
	}
	if !strings.Contains(w.logs.String(), "decision store unavailable") {
		t.Errorf("no log line about the store:\n%s", w.logs.String())
	}
}

// With no directory for the embedded file the store is off, and says so.
func TestDaemonStoreOffWithoutDirectory(t *testing.T) {
	w := newDaemonWorld(t, "[store]\npath = \"/nonexistent/spoofguard/s.db\"")
	if w.d.rec != nil || !strings.Contains(w.logs.String(), "decision store off") {
		t.Errorf("store on without its directory; log:\n%s", w.logs.String())
	}
}

func readStore(t *testing.T, o store.Options) []store.Record {
	t.Helper()
	o.Existing = true
	st, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []store.Record
	err = st.Scan(context.Background(), store.Query{}, func(r *store.Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The record names the authorised sender entry that let the mail in.
func TestDaemonRecordsAuthorizedSender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spoofguard.db")
	w := newIdleDaemonWorld(t, "[store]\npath = \""+path+"\"")
	appendLine(t, w.cfgPath, `senders = [{ name = "Partner news", dkim = "partner.example" }]`)
	w.start(policy.Options{})
	r := send(t, w.d.Addr().String(), "192.0.2.30", "mail.partner.example", "", "news@partner.example", []string{"user@edge.example"},
		w.message("News <news@edge.example>", true, ""))
	if r.stage != "eom" || r.act.Type != gomilter.ActionAccept {
		t.Fatalf("got %s %v", r.stage, r.act)
	}
	w.d.Shutdown()
	recs := readStore(t, store.Options{Path: path})
	if len(recs) != 1 || recs[0].Sender != "Partner news" || recs[0].Domain != "edge.example" || recs[0].Verdict != "accept" {
		t.Fatalf("records %+v", recs)
	}
}

// appendLine adds a line to the end of the configuration file, which is
// inside its last table.
func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}
