package batv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("good.key", "  "+strings.Repeat("ab", 32)+"\n", 0o600)
	if b, err := LoadKeyFile(good); err != nil || string(b) != strings.Repeat("ab", 32) {
		t.Fatalf("good key: %q %v", b, err)
	}
	if _, err := LoadKeyFile(write("ro.key", strings.Repeat("x", 20), 0o400)); err != nil {
		t.Errorf("owner read-only key refused: %v", err)
	}
	for name, c := range map[string]struct {
		path string
		want string
	}{
		"missing":        {filepath.Join(dir, "none.key"), "no such file"},
		"empty":          {write("empty.key", "", 0o600), "0 bytes of key"},
		"blank":          {write("blank.key", " \n\n", 0o600), "0 bytes of key"},
		"short":          {write("short.key", "0123456789", 0o600), "10 bytes of key"},
		"group-readable": {write("g.key", strings.Repeat("x", 32), 0o640), "mode 0640 readable by group"},
		"world-readable": {write("w.key", strings.Repeat("x", 32), 0o604), "mode 0604 readable by group or others"},
		"directory":      {dir, "not a regular file"},
	} {
		_, err := LoadKeyFile(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: error %v, want it to name the file and say %q", name, err, c.want)
		}
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "g.key")); !errors.Is(err, ErrKeyMode) {
		t.Errorf("group-readable: %v is not ErrKeyMode", err)
	}
}

func TestWriteNewKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "batv.key")
	if err := WriteNewKey(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", fi.Mode(), err)
	}
	k, err := LoadKeys([]string{p})
	if err != nil || k.Len() != 1 {
		t.Fatalf("LoadKeys: %v", err)
	}
	before, _ := os.ReadFile(p)
	if err := WriteNewKey(p); !errors.Is(err, os.ErrExist) {
		t.Errorf("second WriteNewKey: %v, want it to refuse an existing file", err)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Errorf("existing key overwritten")
	}
	q := filepath.Join(t.TempDir(), "other.key")
	if err := WriteNewKey(q); err != nil {
		t.Fatal(err)
	}
	if other, _ := os.ReadFile(q); string(other) == string(before) {
		t.Errorf("two new keys are equal")
	}
}

func TestLoadKeysStopsAtABadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.key")
	if err := WriteNewKey(p); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys([]string{p, p + ".missing"}); err == nil {
		t.Error("a missing second key was accepted")
	}
}

func Example() {
	keys := NewKeys([][]byte{[]byte("an example secret, 32 bytes long")}, []string{"/etc/spoofguard/batv.key"})
	sent := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	tagged := keys.Sign("alice@example.org", sent)
	r := keys.Verify(tagged, sent.Add(48*time.Hour))
	fmt.Println(Strip(tagged), r.Status, r.DaysLeft, r.KeyName)
	r = keys.Verify(tagged, sent.Add(8*24*time.Hour))
	fmt.Println(r.Status, r.DaysAgo)
	// Output:
	// alice@example.org valid 5 /etc/spoofguard/batv.key
	// expired 1
}
