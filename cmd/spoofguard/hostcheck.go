package main

// What `config check` looks at on this host, beyond the file itself: the
// things `serve` would fail on when it starts (a socket group that does
// not exist, a socket directory it cannot write, an address taken by
// another program), so that `config check && systemctl reload` is never
// followed by a restart that fails; and listeners other hosts can reach.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/spoofguard/spoofguard/config"
)

// serviceUser is the account the packaged service runs as.
const serviceUser = "spoofguard"

// runtimeDir is the service's RuntimeDirectory: systemd creates it when
// the service starts, so its absence beforehand is no problem.
const runtimeDir = "/run/spoofguard"

// hostReport collects the findings: errors fail the check.
type hostReport struct {
	errors, warnings, notes []string
}

func (r *hostReport) errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

func (r *hostReport) warnf(format string, a ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, a...))
}

// checkHost runs every host check of cfg for the account u.
func checkHost(cfg *config.Config, u *user.User) *hostReport {
	r := &hostReport{}
	l := cfg.Milter.Listen
	if l.Network == "unix" {
		r.unixSocket(l.Address, cfg.Milter.SocketGroup, u)
	} else {
		r.tcpListener("milter.listen", l.Network, l.Address)
	}
	if m := cfg.Metrics.Listen; m != "" {
		r.tcpListener("metrics.listen", "tcp", m)
	}
	r.batvFiles(&cfg.Backscatter, u)
	if len(cfg.Domains) == 0 {
		r.notes = append(r.notes, "no [[domain]]: this file protects nothing yet; every message is accepted")
	}
	return r
}

// unixSocket checks what Listen needs for a unix socket.
func (r *hostReport) unixSocket(path, group string, u *user.User) {
	if group != "" {
		if _, err := user.LookupGroup(group); err != nil {
			r.errorf("milter.socket_group: group %q does not exist on this host; serve could not hand the socket to it", group)
		}
	}
	r.socketDir(filepath.Dir(path), u)
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
	case fi.Mode()&os.ModeSocket == 0:
		r.errorf("milter.listen: %s exists and is not a socket; serve will not replace it", path)
	default:
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			r.warnf("milter.listen: a process is listening on %s (the running spoofguard, if this is a reload; anything else makes a restart fail)", path)
		}
	}
}

// socketDir checks that the socket's directory exists and that the
// service user may create the socket in it.
func (r *hostReport) socketDir(dir string, u *user.User) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist) && dir == runtimeDir:
		r.notes = append(r.notes, runtimeDir+" does not exist yet; systemd creates it when spoofguard.service starts (RuntimeDirectory)")
	case err != nil:
		r.errorf("milter.listen: socket directory %s: %v; create it (install -d -o %s ...)", dir, errors.Unwrap(err), u.Username)
	case !fi.IsDir():
		r.errorf("milter.listen: %s is not a directory", dir)
	case !writableBy(fi, u):
		r.errorf("milter.listen: user %s cannot create the socket in %s (mode %v, owner uid %d)", u.Username, dir, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid)
	}
}

// writableBy reports whether u may create files in the directory:
// write and search permission for its owner, group or others class.
func writableBy(fi os.FileInfo, u *user.User) bool {
	st := fi.Sys().(*syscall.Stat_t)
	uid, _ := strconv.Atoi(u.Uid)
	if uid == 0 {
		return true
	}
	perm := fi.Mode().Perm()
	if uint32(uid) == st.Uid {
		return perm&0o300 == 0o300
	}
	gids, _ := u.GroupIds()
	if slices.Contains(append(gids, u.Gid), strconv.Itoa(int(st.Gid))) {
		return perm&0o030 == 0o030
	}
	return perm&0o003 == 0o003
}

// tcpListener warns about a listener other hosts can reach, and tries the
// address: serve fails on one that is taken or not on this host.
func (r *hostReport) tcpListener(key, network, address string) {
	host, port, _ := net.SplitHostPort(address)
	if a, err := netip.ParseAddr(host); host == "" || err == nil && !a.IsLoopback() {
		where := "on " + host
		if host == "" || a.IsUnspecified() {
			where = "on every interface"
		}
		r.warnf("%s: %s listens %s, where other hosts can reach it; bind it to 127.0.0.1 (or a unix socket) unless a firewall closes it", key, address, where)
	}
	if port == "0" {
		return
	}
	ln, err := net.Listen(network, address)
	switch {
	case err == nil:
		ln.Close()
	case errors.Is(err, syscall.EADDRINUSE):
		r.warnf("%s: %s is already in use (by the running spoofguard, if this is a reload; by anything else, a restart fails)", key, address)
	default:
		r.errorf("%s: serve could not listen on %s: %v", key, address, err)
	}
}

// checkUser is the account the checks assume: -user, else the service's
// own user when it exists, else whoever runs the check.
func checkUser(name string) (*user.User, error) {
	if name != "" {
		return user.Lookup(name)
	}
	if u, err := user.Lookup(serviceUser); err == nil {
		return u, nil
	}
	return user.Current()
}
