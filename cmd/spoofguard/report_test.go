package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/store"
)

func reportWorld(t *testing.T, withStore bool) string {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "spoofguard.db")
	cfg := filepath.Join(dir, "spoofguard.toml")
	if err := os.WriteFile(cfg, []byte("[[domain]]\nname = \"example.org\"\n[store]\npath = \""+db+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !withStore {
		return cfg
	}
	st, err := store.Open(context.Background(), store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs := []store.Record{
		{Time: time.Now().Add(-time.Hour), Domain: "example.org", Seen: []string{"from"}, MailFrom: "bounce.mcsv.net",
			ClientIP: "198.51.100.7", ClientName: "mail7.mcsv.net", Class: "internet", SPF: "pass", SPFDomain: "bounce.mcsv.net",
			DKIM: []store.Result{{Name: "mcsv.net", Result: "pass"}}, Verdict: "accept", Rule: "header-forgery", Would: "reject"},
		{Time: time.Now().Add(-10 * 24 * time.Hour), Domain: "example.org", Seen: []string{"from"}, ClientIP: "192.0.2.66",
			Class: "internet", Verdict: "reject", Rule: "header-forgery"},
	}
	if err := st.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestReportCommand(t *testing.T) {
	cfg := reportWorld(t, true)
	var out, errOut bytes.Buffer
	if code := run([]string{"report", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	if !strings.Contains(text, `senders = [{ name = "mcsv.net", dkim = "mcsv.net" }]`) || !strings.Contains(text, ": 1 records.") {
		t.Errorf("the 7-day report should hold the newsletter's fix and not the 10-day-old forgery:\n%s", text)
	}
	out.Reset()
	if code := run([]string{"report", "-config", cfg, "--since", "2w", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep struct{ Records int }
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Records != 2 {
		t.Errorf("JSON over 2 weeks: %v, %d records:\n%s", err, rep.Records, out.String())
	}
}

func TestReportCommandRefuses(t *testing.T) {
	for name, args := range map[string][]string{
		"no store":  {"report", "-config", reportWorld(t, false)},
		"bad since": {"report", "-config", reportWorld(t, true), "--since", "yesterday"},
		"argument":  {"report", "-config", reportWorld(t, true), "example.org"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut.String())
		}
	}
}
