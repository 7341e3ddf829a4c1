package config

import (
	"strings"
	"testing"
)

// Both spellings in use — Postfix's and libmilter's — mean the same
// socket, and String gives the Postfix form config check prints.
func TestParseListen(t *testing.T) {
	for _, c := range []struct{ in, network, address, canonical string }{
		{"inet:127.0.0.1:8955", "tcp4", "127.0.0.1:8955", "inet:127.0.0.1:8955"},
		{"inet:8955@127.0.0.1", "tcp4", "127.0.0.1:8955", "inet:127.0.0.1:8955"},
		{"inet:8955@[127.0.0.1]", "tcp4", "127.0.0.1:8955", "inet:127.0.0.1:8955"},
		{"inet:8955@localhost", "tcp4", "localhost:8955", "inet:localhost:8955"},
		{"inet:localhost:8955", "tcp4", "localhost:8955", "inet:localhost:8955"},
		{"inet:8955", "tcp4", "0.0.0.0:8955", "inet:0.0.0.0:8955"},
		{"inet6:[::1]:8955", "tcp6", "[::1]:8955", "inet6:[::1]:8955"},
		{"inet:[::1]:8955", "tcp6", "[::1]:8955", "inet6:[::1]:8955"},
		{"inet6:8955@::1", "tcp6", "[::1]:8955", "inet6:[::1]:8955"},
		{"inet6:8955@[::1]", "tcp6", "[::1]:8955", "inet6:[::1]:8955"},
		{"inet6:8955", "tcp6", "[::]:8955", "inet6:[::]:8955"},
		{"unix:/run/spoofguard/milter.sock", "unix", "/run/spoofguard/milter.sock", "unix:/run/spoofguard/milter.sock"},
		{"local:/run/spoofguard/milter.sock", "unix", "/run/spoofguard/milter.sock", "unix:/run/spoofguard/milter.sock"},
		{"local:/var/spool/postfix/spoofguard/milter.sock", "unix", "/var/spool/postfix/spoofguard/milter.sock", "unix:/var/spool/postfix/spoofguard/milter.sock"},
	} {
		l, err := ParseListen(c.in)
		if err != nil || l.Network != c.network || l.Address != c.address || l.String() != c.canonical {
			t.Errorf("%s: %+v %q %v, want %s %s %s", c.in, l, l.String(), err, c.network, c.address, c.canonical)
		}
	}
	for in, why := range map[string]string{
		"":                         "want inet:HOST:PORT",
		"inet":                     "want inet:HOST:PORT",
		"inet:":                    "want inet:HOST:PORT",
		"tcp:127.0.0.1:8955":       "want inet:HOST:PORT",
		"inet:127.0.0.1:http":      "port",
		"unix:relative.sock":       "absolute",
		"127.0.0.1:8955":           "want inet:HOST:PORT",
		"inet:127.0.0.1":           "want inet:HOST:PORT",
		"inet:127.0.0.1:70000":     "port",
		"inet:8955@":               "nothing after the @",
		"inet:http@127.0.0.1":      "port",
		"inet::8955":               "the host is empty",
		"inet:::1:8955":            "brackets",
		"inet6:8955@127.0.0.1":     "inet6: takes an IPv6 address",
		"inet6:[127.0.0.1]:8955":   "inet6: takes an IPv6 address",
		"inet:bad_host:8955":       "neither an IP address nor a host name",
		"inet:[fe80::1%eth0]:8955": "zones",
		"unix:run/milter.sock":     "absolute",
		"local:/run/":              "directory",
	} {
		_, err := ParseListen(in)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error saying %q", in, err, why)
		}
	}
}

func TestListenWildcard(t *testing.T) {
	for in, want := range map[string]bool{
		"inet:8955": true, "inet:0.0.0.0:8955": true, "inet6:8955": true, "inet6:[::]:8955": true,
		"inet:127.0.0.1:8955": false, "inet:192.0.2.1:8955": false, "unix:/run/s.sock": false, "inet:localhost:8955": false,
	} {
		l, err := ParseListen(in)
		if err != nil || l.Wildcard() != want {
			t.Errorf("%s: wildcard %v (%v), want %v", in, l.Wildcard(), err, want)
		}
	}
}

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"inet:127.0.0.1:8955", "inet:8955@[::1]", "inet6:8955", "local:/x", "inet:[::1]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseListen(s)
		if err != nil {
			return
		}
		// The canonical form reads back as the same address.
		again, err := ParseListen(l.String())
		if err != nil || again != l {
			t.Errorf("%q → %q → %+v %v", s, l, again, err)
		}
	})
}
