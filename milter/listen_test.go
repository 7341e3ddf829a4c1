package milter

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// A unix socket left by a crashed daemon is removed; one somebody listens
// on, or a file that is not a socket, is not.
func TestListenUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "milter.sock")

	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, nobody listens

	ln, err := Listen(unixSocket(path), 0o660, "")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660 so that the MTA's group can connect", fi.Mode().Perm())
	}
	if _, err := Listen(unixSocket(path), 0o660, ""); err == nil {
		t.Error("a socket in use was taken over")
	}

	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, []byte("x"), 0o644)
	if _, err := Listen(unixSocket(regular), 0o660, ""); err == nil {
		t.Error("a regular file was replaced by a socket")
	}

	// The group given is applied (the caller's own group works unprivileged).
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatalf("no name for our own group: %v", err)
	}
	other := filepath.Join(dir, "grouped.sock")
	ln2, err := Listen(unixSocket(other), 0o600, g.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	fi, _ = os.Stat(other)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != os.Getgid() || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket gid %d mode %v", st.Gid, fi.Mode().Perm())
	}
	if _, err := Listen(unixSocket(filepath.Join(dir, "x.sock")), 0o660, "no-such-group-here"); err == nil {
		t.Error("unknown group accepted")
	}
}

func unixSocket(path string) config.Listen {
	return config.Listen{Network: "unix", Address: path}
}
