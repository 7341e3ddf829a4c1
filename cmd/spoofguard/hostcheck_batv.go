package main

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/spoofguard/spoofguard/config"
)

// batvFiles checks what BATV needs of the service's account: the key
// files are readable by their owner alone (the configuration refuses
// anything else), so serve can read them only when it runs as their
// owner; and the state file's directory must let it record when signing
// began, or the window before untagged bounces are judged starts again
// at every restart.
func (r *hostReport) batvFiles(b *config.BackscatterConfig, u *user.User) {
	uid, _ := strconv.Atoi(u.Uid)
	for _, p := range b.Keys {
		fi, err := os.Stat(p)
		if err != nil || uid == 0 {
			continue // a missing file was refused with the configuration
		}
		if owner := fi.Sys().(*syscall.Stat_t).Uid; owner != uint32(uid) {
			r.errorf("backscatter.keys: %s is owned by uid %d and readable by its owner only: user %s cannot read it (chown %s %s)", p, owner, u.Username, u.Username, p)
		}
	}
	if len(b.Keys) == 0 || b.State == "" {
		return
	}
	dir := filepath.Dir(b.State)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && dir == filepath.Dir(config.DefaultBATVState):
		// the service's StateDirectory: systemd creates it at start
	case err != nil:
		r.warnf("backscatter.state: %v; the start of BATV signing cannot be recorded, so untagged bounces are judged only once the daemon has run 7 days without a restart", err)
	case !writableBy(fi, u):
		r.warnf("backscatter.state: user %s cannot write in %s; the start of BATV signing cannot be recorded, so untagged bounces are judged only once the daemon has run 7 days without a restart", u.Username, dir)
	}
}
