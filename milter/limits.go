package milter

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/spoofguard/spoofguard/config"
)

// defaultMaxSessions is the bound on MTA connections served at once when
// milter.max_sessions is 0. It is Postfix's default process limit (100
// smtpd processes, each with at most one connection to the milter), and
// at that count the daemon stays under 64 MB even if every session
// holds a packet of maxPacket bytes and a message in progress (measured
// by TestWireMemoryBound; docs/configuration.md has the figures).
const defaultMaxSessions = 100

// maxSessions is the bound the configuration asks for.
func maxSessions(cfg *config.Config) int {
	if cfg.Milter.MaxSessions > 0 {
		return cfg.Milter.MaxSessions
	}
	return defaultMaxSessions
}

// fullLogInterval: while connections wait for a free slot, that is
// logged at most this often.
const fullLogInterval = time.Minute

// limits are the listener's bounds with the daemon's logging.
func (d *Daemon) limits(cfg *config.Config) listenerLimits {
	var lastFull atomic.Int64
	return listenerLimits{
		maxSessions: maxSessions(cfg),
		full: func(open int) {
			now := time.Now().UnixNano()
			last := lastFull.Load()
			if now-last < int64(fullLogInterval) || !lastFull.CompareAndSwap(last, now) {
				return
			}
			d.current().log.Warn("milter.max_sessions reached: new MTA connections wait until a session ends",
				"sessions", open)
		},
		malformed: func(peer net.Addr, err error) {
			d.current().log.Error("MTA connection closed: malformed milter packet", "peer", peerName(peer), "err", err.Error())
		},
	}
}

// peerName names the MTA end of a connection; a unix socket's peer has
// no name.
func peerName(a net.Addr) string {
	if a == nil || a.String() == "" || a.String() == "@" {
		return "unix"
	}
	return a.String()
}
