package milter

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestParseListen(t *testing.T) {
	for _, c := range []struct{ in, network, address string }{
		{"inet:127.0.0.1:8955", "tcp4", "127.0.0.1:8955"},
		{"inet:localhost:8955", "tcp4", "localhost:8955"},
		{"inet6:[::1]:8955", "tcp6", "[::1]:8955"},
		{"inet:[::1]:8955", "tcp6", "[::1]:8955"},
		{"unix:/run/spoofguard/milter.sock", "unix", "/run/spoofguard/milter.sock"},
		{"local:/var/spool/postfix/spoofguard/milter.sock", "unix", "/var/spool/postfix/spoofguard/milter.sock"},
		// libmilter's spellings, as OpenDKIM and OpenDMARC configurations write them.
		{"inet:8955@127.0.0.1", "tcp4", "127.0.0.1:8955"},
		{"inet:8955@localhost", "tcp4", "localhost:8955"},
		{"inet:8955@[127.0.0.1]", "tcp4", "127.0.0.1:8955"},
		{"inet6:8955@[::1]", "tcp6", "[::1]:8955"},
		{"inet:8955", "tcp4", "0.0.0.0:8955"},
		{"inet6:8955", "tcp6", "[::]:8955"},
	} {
		n, a, err := ParseListen(c.in)
		if err != nil || n != c.network || a != c.address {
			t.Errorf("%s: %s %s %v, want %s %s", c.in, n, a, err, c.network, c.address)
		}
	}
	for _, bad := range []string{"", "inet", "inet:", "inet:127.0.0.1", "inet:127.0.0.1:http", "inet:127.0.0.1:70000",
		"unix:relative.sock", "tcp:127.0.0.1:8955", "127.0.0.1:8955",
		"inet:8955@", "inet6:8955@127.0.0.1", "inet::8955", "inet:::1:8955"} {
		if _, _, err := ParseListen(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

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

	ln, err := Listen("unix:"+path, "0660", "")
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
	if _, err := Listen("unix:"+path, "", ""); err == nil {
		t.Error("a socket in use was taken over")
	}

	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, []byte("x"), 0o644)
	if _, err := Listen("unix:"+regular, "", ""); err == nil {
		t.Error("a regular file was replaced by a socket")
	}

	// The group given is applied (the caller's own group works unprivileged).
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatalf("no name for our own group: %v", err)
	}
	other := filepath.Join(dir, "grouped.sock")
	ln2, err := Listen("unix:"+other, "0600", g.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	fi, _ = os.Stat(other)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != os.Getgid() || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket gid %d mode %v", st.Gid, fi.Mode().Perm())
	}
	if _, err := Listen("unix:"+filepath.Join(dir, "x.sock"), "0660", "no-such-group-here"); err == nil {
		t.Error("unknown group accepted")
	}
}
