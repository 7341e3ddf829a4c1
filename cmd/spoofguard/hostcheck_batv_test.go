package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/batv"
)

// config check tells when the service's account cannot read a BATV key
// (readable by its owner only) or record the start of signing.
func TestConfigCheckBATVFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "batv.key")
	if err := batv.WriteNewKey(key); err != nil {
		t.Fatal(err)
	}
	rootOnly := filepath.Join(dir, "state")
	os.Mkdir(rootOnly, 0o755)
	cfg := filepath.Join(dir, "spoofguard.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[milter]\nlisten = \"inet:127.0.0.1:0\"\n[backscatter]\nkeys = [%q]\nstate = %q\n", key, rootOnly+"/batv.state")), 0o644)
	out, errOut, code := runCommand("config", "check", "-config", cfg, "-user", "nobody")
	if code != 1 || !strings.Contains(out+errOut, "user nobody cannot read it (chown nobody "+key+")") {
		t.Errorf("as nobody: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if err := os.Chown(key, 65534, 65534); err != nil { // nobody
		t.Fatal(err)
	}
	out, errOut, code = runCommand("config", "check", "-config", cfg, "-user", "nobody")
	if code != 0 || !strings.Contains(out+errOut, "user nobody cannot write in "+rootOnly) {
		t.Errorf("as nobody, owning the key: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	out, errOut, code = runCommand("config", "check", "-config", cfg, "-user", "root")
	if code != 0 || strings.Contains(out+errOut, "backscatter") {
		t.Errorf("as root: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
