package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Refused files: the golden error texts, the file-level failures and
// hostile input (fuzzing, huge lists, deep nesting).

// TestGoldenErrors parses each testdata/config/NAME.toml, which must be
// refused, and compares the error text with NAME.golden.
func TestGoldenErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".toml")
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(in)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadConfig(%s) = %v, want a *ConfigError", in, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(in, ".toml") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s:\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
}

// TestAllProblemsAtOnce checks the many-problems file beyond its golden
// text: each problem sits at the line where its key was written.
func TestAllProblemsAtOnce(t *testing.T) {
	in := filepath.Join("testdata", "config", "many_problems.toml")
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseConfig(in, data)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	lines := strings.Split(string(data), "\n")
	want := map[string]string{ // key → text its line starts with
		"milter.listen":            "listen =",
		"dns.timeout":              "timeout =",
		"dns.on_temperror":         "on_temperror =",
		"dns.cache":                "cache =",
		"networks.trusted[1]":      "trusted =",
		"relay[0]":                 "[[relay]]",
		"relay[0].hops":            "hops =",
		"domain[0].via":            "via =",
		"domain[0].header_forgery": "header_forgery =",
		"domain[1].name":           "name =",
		"allow.sender_domains[0]":  "sender_domains =",
	}
	got := map[string]bool{}
	for _, p := range ce.Problems {
		got[p.Key] = true
		prefix, ok := want[p.Key]
		if !ok {
			t.Errorf("unexpected problem %v", p)
			continue
		}
		if p.Line < 1 || p.Line > len(lines) || !strings.HasPrefix(lines[p.Line-1], prefix) {
			t.Errorf("%s reported at line %d, which is not the %q line", p.Key, p.Line, prefix)
		}
		if p.File != in {
			t.Errorf("%s: File = %q, want %q", p.Key, p.File, in)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("no problem reported for %s", k)
		}
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}

	big := filepath.Join(t.TempDir(), "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", maxFile/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(big)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: err = %v", err)
	}
}

func TestProblemFormat(t *testing.T) {
	test := func(p Problem, want string) {
		t.Helper()
		if got := p.Error(); got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
	test(Problem{File: "spoofguard.toml", Line: 12, Key: "dns.timeout", Msg: "bad"}, "spoofguard.toml:12: dns.timeout: bad")
	test(Problem{File: "a.toml", Line: 3, Column: 9, Msg: "TOML syntax: x"}, "a.toml:3:9: TOML syntax: x")
	test(Problem{File: "a.toml", Msg: "too large"}, "a.toml: too large")
	test(Problem{Line: 1, Key: "k", Msg: "m"}, "config:1: k: m")

	e := &ConfigError{Problems: []Problem{{File: "f", Line: 1, Msg: "a"}, {File: "f", Line: 2, Msg: "b"}}}
	if got := e.Error(); got != "f:1: a\nf:2: b" {
		t.Errorf("ConfigError.Error() = %q", got)
	}
	var p Problem
	if !errors.As(e, &p) || p.Msg != "a" {
		t.Errorf("errors.As(ConfigError, *Problem) = %v", p)
	}
}

func TestNetworkAndDurationText(t *testing.T) {
	var n Network
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1/32", "2001:DB8::/32": "2001:db8::/32", "0.0.0.0/0": "0.0.0.0/0"} {
		if err := n.UnmarshalText([]byte(in)); err != nil || n.String() != want {
			t.Errorf("Network(%q) = %v, %v; want %s", in, n, err, want)
		}
	}
	for _, in := range []string{"", "192.0.2.1/", "/24", "192.0.2.0/24/1", "1.2.3", "192.0.2.0 /24"} {
		if err := n.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("Network(%q) accepted as %v", in, n)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("1h2m3.5s")); err != nil || d.Duration != time.Hour+2*time.Minute+3500*time.Millisecond {
		t.Errorf("Duration = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("5")); err == nil {
		t.Error("a duration without unit was accepted")
	}
}

// FuzzLoadConfig feeds arbitrary documents to the parser: it must never
// panic, every refusal must be a *ConfigError whose problems point inside
// the file, and every accepted configuration must survive a round trip.
func FuzzLoadConfig(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*.toml"))
	for _, s := range append(seeds, examples...) {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.toml", data)
		if err != nil {
			checkRefusal(t, data, err)
			return
		}
		checkRoundTrip(t, c)
	})
}

func checkRefusal(t *testing.T, data []byte, err error) {
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) == 0 {
		t.Fatalf("error %T %v is not a *ConfigError with problems", err, err)
	}
	lines := strings.Count(string(data), "\n") + 1
	for _, p := range ce.Problems {
		if p.Msg == "" || p.Line < 0 || p.Line > lines || p.File != "fuzz.toml" {
			t.Fatalf("bad problem %+v (file has %d lines)", p, lines)
		}
	}
}

// TestLargeLists checks the bounds on hostile sizes: long but legal lists
// are checked against each other (and must not take quadratic time to
// do so), and a list beyond the bound is one clear problem.
func TestLargeLists(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "[[domain]]\nname = \"d%d.example.org\"\n", i)
	}
	b.WriteString("[allow]\nsender_domains = [")
	for i := range 5000 {
		fmt.Fprintf(&b, "\"a%d.example.net\",", i)
	}
	b.WriteString("\"d4999.example.org\"]\n")
	_, err := ParseConfig("big.toml", []byte(b.String()))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Key != "allow.sender_domains[5000]" {
		t.Fatalf("err = %v, want one problem at allow.sender_domains[5000]", err)
	}

	tooMany := "networks.outbound = [" + strings.Repeat(`"192.0.2.1",`, maxElements+1) + "]"
	_, err = ParseConfig("big.toml", []byte(tooMany))
	if err == nil || !strings.Contains(err.Error(), "networks.outbound: 10001 entries are too many; at most 10000") {
		t.Errorf("err = %v", err)
	}
}

// TestHostileShapes feeds shapes that once cost quadratic time or could
// overflow a stack: very long dotted keys and table names, deep nesting.
// Each must be refused promptly with one problem at the first wrong key.
func TestHostileShapes(t *testing.T) {
	test := func(doc, wantKey string) {
		t.Helper()
		_, err := ParseConfig("hostile.toml", []byte(doc))
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Key != wantKey || ce.Problems[0].Line != 1 {
			t.Errorf("err = %.300v, want one problem at line 1 for %s", err, wantKey)
		}
	}
	deep := strings.Repeat("a.", 50000) + "a"
	test(deep+" = 1\n", "a")
	test("["+deep+"]\nx = 1\n", "a")
	test("[["+deep+"]]\nx = 1\n", "a")
	test("["+strings.Repeat("dns.", 50000)+"a]\nx = 1\n", "dns.dns")
	test("x = "+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+"\n", "x")
	test("dns.servers = "+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+"\n", "dns.servers[0]")
	test("milter = "+strings.Repeat("{milter=", 5000)+"1"+strings.Repeat("}", 5000)+"\n", "milter.milter")
}
