package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	test := func(args []string, wantCode int, wantOut, wantErr []string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != wantCode {
			t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out.String(), errb.String())
		}
		for _, w := range wantOut {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: stdout lacks %q: %s", args, w, out.String())
			}
		}
		for _, w := range wantErr {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%v: stderr lacks %q: %s", args, w, errb.String())
			}
		}
	}
	empty := write("empty.toml", "")
	test([]string{"config", "check", "-config", empty}, 0, []string{"OK", "0 protected domains"}, nil)
	good := write("good.toml", "[[relay]]\nname = \"filter\"\nnetworks = [\"198.51.100.0/24\"]\n[[domain]]\nname = \"example.org\"\nvia = \"filter\"\n")
	test([]string{"config", "check", "--config", good}, 0, []string{"1 protected domains, 1 relays, mode enforce"}, nil)

	// Every problem at once, each with file, line and key.
	bad := write("bad.toml", "[milter]\nmode = \"loud\"\n[[domain]]\nname = \"example.org\"\nvia = \"nowhere\"\n[allow]\nsender_domains = [\"example.org\"]\n")
	test([]string{"config", "check", "-config", bad}, 1, nil, []string{
		"bad.toml:2: milter.mode", "bad.toml:5: domain[0].via", "bad.toml:7: allow.sender_domains[0]", "forged",
	})
	test([]string{"config", "check", "-config", filepath.Join(dir, "missing.toml")}, 1, nil, []string{"missing.toml"})
	test([]string{"config"}, 2, nil, []string{"usage"})
	test([]string{"config", "check", "-bogus"}, 2, nil, []string{"bogus"})
	test([]string{"frobnicate"}, 2, nil, []string{"unknown command"})
	test([]string{"version"}, 0, []string{"spoofguard"}, nil)
}
