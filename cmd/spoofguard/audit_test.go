package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// auditFindings is the part of the JSON report the tests assert on.
type auditFindings struct {
	Config []struct {
		Check, Status, Detail string
	} `json:"config"`
	Domains []struct {
		Domain   string `json:"domain"`
		Findings []struct {
			Check, Status, Detail string
		} `json:"findings"`
	} `json:"domains"`
	Summary struct{ Pass, Warn, Fail int } `json:"summary"`
}

// status returns the statuses of a domain's findings for one check, in
// order ("" domain: the configuration's).
func (a auditFindings) status(domain, check string) string {
	var out []string
	if domain == "" {
		for _, f := range a.Config {
			if f.Check == check {
				out = append(out, f.Status)
			}
		}
	}
	for _, d := range a.Domains {
		if d.Domain != domain {
			continue
		}
		for _, f := range d.Findings {
			if f.Check == check {
				out = append(out, f.Status)
			}
		}
	}
	return strings.Join(out, ",")
}

type auditCase struct {
	name   string
	config string   // template in testdata/audit
	args   []string // domains named
	code   int
	want   map[[2]string]string // {domain, check} → statuses
}

func TestAuditSituations(t *testing.T) {
	cases := []auditCase{
		{name: "all-domains", config: "spoofguard.toml", code: 1, want: map[[2]string]string{
			{"", "networks.trusted"}:               "PASS",
			{"", `relay "cloud"`}:                  "PASS",
			{"clean.example", "spf.lookups"}:       "PASS",
			{"clean.example", "dmarc.policy"}:      "PASS",
			{"clean.example", "mx.relay"}:          "PASS",
			{"clean.example", "exposure"}:          "PASS",
			{"lookups.example", "spf.lookups"}:     "FAIL",
			{"weak.example", "spf.all"}:            "WARN",
			{"weak.example", "dmarc.policy"}:       "FAIL",
			{"weak.example", "dmarc.pct"}:          "WARN",
			{"weak.example", "dmarc.rua"}:          "WARN",
			{"backupmx.example", "mx.relay"}:       "FAIL",
			{"mailname.example", "exposure"}:       "WARN,WARN",
			{"mailname.example", "mx.relay"}:       "PASS",
			{"notcovered.example", "spf.outbound"}: "FAIL",
			{"cloudy.example", "mx.relay"}:         "PASS",
			{"edge.example", "mx"}:                 "PASS",
			{"edge.example", "dmarc.sp"}:           "WARN",
		}},
		{name: "clean", config: "spoofguard.toml", args: []string{"clean.example"}, code: 0, want: map[[2]string]string{
			{"clean.example", "protected"}:    "PASS",
			{"clean.example", "spf.outbound"}: "PASS",
		}},
		// A subdomain named on the command line: protected through its
		// parent, with DMARC from the organizational domain's sp=.
		{name: "subdomain", config: "spoofguard.toml", args: []string{"Shop.Edge.Example."}, code: 0, want: map[[2]string]string{
			{"shop.edge.example", "protected"}:    "PASS",
			{"shop.edge.example", "dmarc.record"}: "PASS",
			{"shop.edge.example", "dmarc.policy"}: "WARN",
		}},
		// The configuration's own doors, an allow-listed domain and a
		// domain that publishes nothing at all, named on the command line.
		{name: "config-doors", config: "doors.toml", args: []string{"partner.example", "bare.example"}, code: 1, want: map[[2]string]string{
			{"", "networks.trusted"}:            "WARN,FAIL",
			{"", `relay "gone"`}:                "FAIL",
			{"partner.example", "protected"}:    "WARN",
			{"partner.example", "allow-list"}:   "FAIL",
			{"partner.example", "dmarc.policy"}: "WARN",
			{"bare.example", "spf.record"}:      "FAIL",
			{"bare.example", "dmarc.record"}:    "FAIL",
			{"bare.example", "mx"}:              "FAIL",
		}},
		{name: "relay-set-empty", config: "doors.toml", args: []string{"clean.example"}, code: 1, want: map[[2]string]string{
			{"clean.example", "mx.relay"}: "FAIL",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newToolWorld(t, "audit", c.config)
			args := append([]string{"audit", "-config", w.cfgPath}, c.args...)
			out, errOut, code := runCommand(args...)
			if code != c.code || errOut != "" {
				t.Fatalf("exit %d (want %d), stderr %q\n%s", code, c.code, errOut, out)
			}
			golden(t, filepath.Join("testdata", "audit", c.name+".txt"), out)
			js, _, code := runCommand(append(args, "--json")...)
			if code != c.code {
				t.Fatalf("--json: exit %d, want %d", code, c.code)
			}
			golden(t, filepath.Join("testdata", "audit", c.name+".json"), js)
			var got auditFindings
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatal(err)
			}
			for k, want := range c.want {
				if s := got.status(k[0], k[1]); s != want {
					t.Errorf("%s %s: %q, want %q", k[0], k[1], s, want)
				}
			}
			if fails := got.Summary.Fail; (fails > 0) != (c.code == 1) {
				t.Errorf("%d FAIL findings, exit %d", fails, code)
			}
		})
	}
}

// TestAuditDNSTrouble: a DNS failure is never a PASS. It becomes a FAIL
// that says what could not be checked, so the exit status shows it.
func TestAuditDNSTrouble(t *testing.T) {
	w := newToolWorld(t, "audit", "spoofguard.toml")
	w.dns.SetFault("clean.example", dnstest.ServFail)
	js, errOut, code := runCommand("audit", "-config", w.cfgPath, "--json", "clean.example")
	if code != 1 {
		t.Fatalf("exit %d, want 1; %s", code, errOut)
	}
	var got auditFindings
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	for _, check := range []string{"spf", "dmarc", "mx"} {
		if s := got.status("clean.example", check); s != "FAIL" {
			t.Errorf("%s: %q, want FAIL", check, s)
		}
	}
	if !strings.Contains(js, "could not be checked") {
		t.Errorf("no finding says what could not be checked:\n%s", js)
	}
}

func TestAuditErrors(t *testing.T) {
	w := newToolWorld(t, "audit", "doors.toml")
	empty := filepath.Join(t.TempDir(), "empty.toml")
	test := func(name string, code int, stderr string, args ...string) {
		t.Run(name, func(t *testing.T) {
			out, errOut, got := runCommand(append([]string{"audit"}, args...)...)
			if got != code || !strings.Contains(errOut, stderr) || out != "" {
				t.Errorf("exit %d (want %d), stderr %q (want %q), stdout %q", got, code, errOut, stderr, out)
			}
		})
	}
	test("unknown flag", 2, "flag provided but not defined: -fast", "-config", w.cfgPath, "-fast")
	test("missing configuration", 2, "no-such.toml", "-config", "no-such.toml")
	writeFile(t, empty, "")
	test("nothing to audit", 2, "protects no domain; name the domains to audit", "-config", empty)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
