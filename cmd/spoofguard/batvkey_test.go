package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/batv"
)

func TestBATVKeyCommand(t *testing.T) {
	p := filepath.Join(t.TempDir(), "batv.key")
	var out, errb bytes.Buffer
	if code := run([]string{"batv-key", p}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	if _, err := batv.LoadKeyFile(p); err != nil {
		t.Errorf("the new key does not pass the check: %v", err)
	}
	errb.Reset()
	if code := run([]string{"batv-key", p}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "exists") {
		t.Errorf("second run over the same file: exit %d, %q", code, errb.String())
	}
	if code := run([]string{"batv-key"}, &out, &errb); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
}
