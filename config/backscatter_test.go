package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/batv"
)

// A key file the daemon cannot use, or one others may read, is refused
// with the file, line and key of the entry; a good one is loaded.
func TestBackscatterKeys(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if err := batv.WriteNewKey(good); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.key")
	os.WriteFile(empty, nil, 0o600)
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, []byte(strings.Repeat("k", 32)), 0o600)
	os.Chmod(open, 0o644)
	missing := filepath.Join(dir, "missing.key")

	cfg, err := ParseConfig("b.toml", []byte(fmt.Sprintf("[backscatter]\nkeys = [%q]\n", good)))
	if err != nil || len(cfg.Backscatter.Secrets()) != 1 || cfg.Backscatter.Action != ActionReject || cfg.Backscatter.State != DefaultBATVState {
		t.Fatalf("good key: %v %+v", err, cfg)
	}
	for name, c := range map[string]struct{ path, says string }{
		"missing":        {missing, "no such file"},
		"empty":          {empty, "0 bytes of key"},
		"world-readable": {open, "readable by group or others"},
		"relative":       {"batv.key", "absolute path"},
	} {
		text := fmt.Sprintf("[backscatter]\naction = \"reject\"\nkeys = [\n  %q,\n  %q,\n]\n", good, c.path)
		_, err := ParseConfig("b.toml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), "b.toml:5: backscatter.keys[1]") || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want b.toml:5: backscatter.keys[1] ... %s", name, err, c.says)
		}
	}
}

func TestBackscatterKeysOther(t *testing.T) {
	cfg, err := ParseConfig("b.toml", []byte("[backscatter]\nexclude = [\"*-Bounces@Example.ORG\", \"@lists.example.org\"]\n"+
		"[[domain]]\nname = \"example.org\"\nbackscatter = \"quarantine\"\ndkim_signs_all = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Backscatter.Exclude[0]; got != "*-bounces@example.org" {
		t.Errorf("exclude not lower-cased: %q", got)
	}
	if d := cfg.Domains[0]; d.Backscatter != ActionQuarantine || !d.DKIMSignsAll {
		t.Errorf("domain keys: %+v", d)
	}
	for text, says := range map[string]string{
		"[backscatter]\naction = \"drop\"\n":                             "backscatter.action",
		"[backscatter]\nstate = \"batv.state\"\n":                        "backscatter.state",
		"[backscatter]\nexclude = [\"[x@example.org\"]\n":                "backscatter.exclude[0]",
		"[[domain]]\nname = \"example.org\"\nbackscatter = \"bounce\"\n": "domain[0].backscatter",
	} {
		if _, err := ParseConfig("b.toml", []byte(text)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error at %s", text, err, says)
		}
	}
}
