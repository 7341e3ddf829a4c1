// Package milter is the spoofguard daemon: it speaks the milter protocol
// (version 6) with Postfix or Sendmail, one session per MTA connection,
// and at every stage hands the facts to the policy engine and turns its
// verdict into the reply the MTA gives the SMTP client — reject at MAIL
// FROM, a refused recipient at RCPT TO, reject at end of headers, or at
// end of body accept with our Authentication-Results and verdict header,
// reject, tempfail, or hold in the quarantine.
//
// The daemon only asks the MTA for the events its rules need and tells it
// not to wait for replies to the others (connect, HELO, each header, body
// chunks), because the protocol's round trips, not the checks, set the
// ceiling on throughput. A reload (SIGHUP) validates the new file and
// swaps a whole new engine in; transactions in progress finish with the
// engine they started with.
package milter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/policy"
)

// runtime is one loaded configuration with everything built from it.
type runtime struct {
	cfg      *config.Config
	engine   *policy.Engine
	resolver *dnsauth.Resolver
	log      *slog.Logger
}

// Options set up a daemon.
type Options struct {
	ConfigPath string
	Version    string    // in the start line and spoofguard_build_info
	LogOutput  io.Writer // default os.Stderr
	// SyslogSocket is the syslog daemon's socket for log.output = "syslog"
	// (tests); empty means the system's, /dev/log.
	SyslogSocket string
	Listener     net.Listener // use this instead of milter.listen (tests); systemd's is taken first
	// EngineOptions are passed to every engine built (tests inject pct randomness).
	EngineOptions policy.Options
}

// Daemon is the milter server with its configuration, metrics and
// listeners.
type Daemon struct {
	opts      Options
	out       io.Writer
	state     atomic.Pointer[runtime]
	metrics   *Metrics
	srv       *connServer
	ln        net.Listener
	activated bool // ln came from systemd
	http      *http.Server
	httpLn    net.Listener
	serving   atomic.Bool // the milter socket accepts connections
	draining  atomic.Bool // Shutdown has begun
	reload    sync.Mutex
	logMu     sync.Mutex
	syslog    *syslog.Writer // connected at the first use of log.output = "syslog"
	served    chan error
	rec       *recorder // the decision store; nil when off
}

// New loads the configuration and builds the first engine. It fails with
// the configuration's problems (a *config.ConfigError) or when the DNS
// resolver cannot be set up.
func New(opts Options) (*Daemon, error) {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	d := &Daemon{opts: opts, out: opts.LogOutput, metrics: NewMetrics(opts.Version), served: make(chan error, 1)}
	if d.out == nil {
		d.out = os.Stderr
	}
	cfg, err := config.LoadConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	rt, err := d.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	d.state.Store(rt)
	d.metrics.SetResolver(nil, rt.resolver)
	d.startStore(cfg.Store, rt.log)
	gomilter.LogWarning = func(format string, v ...any) {
		d.current().log.Warn("milter protocol: " + fmt.Sprintf(format, v...))
	}
	d.srv = &connServer{panicked: d.sessionPanicked}
	d.srv.lib = gomilter.NewServer(
		gomilter.WithMilter(func() gomilter.Milter { return &guarded{s: &session{d: d}} }),
		gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeHeader|gomilter.OptQuarantine|gomilter.OptChangeFrom),
		gomilter.WithProtocols(wantedProtocol),
		gomilter.WithNegotiationCallback(negotiate),
		gomilter.WithMacroRequest(gomilter.StageMail, []gomilter.MacroName{gomilter.MacroQueueId, gomilter.MacroAuthAuthen}),
		// Postfix assigns the queue id only once a recipient is accepted
		// (smtpd_delay_open_until_valid_rcpt), so ask again at RCPT TO.
		gomilter.WithMacroRequest(gomilter.StageRcpt, []gomilter.MacroName{gomilter.MacroQueueId}),
		gomilter.WithMacroRequest(gomilter.StageEOH, []gomilter.MacroName{gomilter.MacroQueueId}),
		gomilter.WithMacroRequest(gomilter.StageEOM, []gomilter.MacroName{gomilter.MacroQueueId}),
		gomilter.WithReadTimeout(10*time.Minute),
	)
	return d, nil
}

// wantedProtocol: events we do not need are not sent, and events that
// never decide get no reply. MAIL FROM, RCPT TO, end of headers and end
// of body can each decide, so they keep their replies.
const wantedProtocol = gomilter.OptNoUnknown | gomilter.OptNoData |
	gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoHeaderReply |
	gomilter.OptNoBodyReply | gomilter.OptNoUnknownReply | gomilter.OptNoDataReply |
	gomilter.OptHeaderLeadingSpace

// negotiate takes what both sides offer instead of failing when the MTA
// lacks an optimisation (go-milter's default): an older MTA simply gets
// more round trips. Body chunks stay at 64 KiB whatever the MTA offers
// (SMFIP_MDS_256K/1M), which keeps every packet within maxPacket.
func negotiate(mtaVersion, milterVersion uint32, mtaActions, milterActions gomilter.OptAction, mtaProtocol, milterProtocol gomilter.OptProtocol, _ gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
	version := min(mtaVersion, milterVersion)
	if version < 2 {
		return 0, 0, 0, 0, fmt.Errorf("MTA speaks milter protocol version %d, too old", mtaVersion)
	}
	return version, milterActions & mtaActions, milterProtocol & mtaProtocol, gomilter.DataSize64K, nil
}

// current is the runtime new transactions use.
func (d *Daemon) current() *runtime { return d.state.Load() }

// Metrics returns the daemon's counters.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// build turns a configuration into a runtime. The resolver (and its warm
// cache) is kept when the DNS settings did not change.
func (d *Daemon) build(cfg *config.Config, prev *runtime) (*runtime, error) {
	log, err := d.logger(cfg.Log)
	if err != nil {
		return nil, err
	}
	res := (*dnsauth.Resolver)(nil)
	if prev != nil && sameDNS(prev.cfg.DNS, cfg.DNS) {
		res = prev.resolver
	} else {
		res, err = dnsauth.NewResolver(cfg.DNS.ResolverConfig())
		if err != nil {
			return nil, fmt.Errorf("DNS resolver: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	engine := policy.NewEngine(ctx, cfg, res, d.opts.EngineOptions)
	for _, r := range cfg.Relays {
		nets, status := engine.RelayNetworks(r.Name)
		log.Info("relay", "name", r.Name, "networks", len(nets), "status", status)
	}
	return &runtime{cfg: cfg, engine: engine, resolver: res, log: log}, nil
}

func sameDNS(a, b config.DNSConfig) bool {
	return slices.Equal(a.Servers, b.Servers) && a.Timeout == b.Timeout &&
		a.Attempts == b.Attempts && a.CacheSize == b.CacheSize
}

// Start opens the listeners and serves in the background.
func (d *Daemon) Start() error {
	rt := d.current()
	ln, how, err := d.listener(rt.cfg)
	if err != nil {
		return err
	}
	d.ln, d.activated = ln, how == viaSystemd
	if !sessionFits() {
		rt.log.Warn("go-milter's session type is not the one this build knows: connections are served by go-milter itself, and a panic in its code ends the daemon")
	}
	d.serving.Store(true)
	go func() {
		err := d.srv.Serve(ln)
		d.serving.Store(false)
		d.served <- err
	}()
	if addr := rt.cfg.Metrics.Listen; addr != "" {
		if err := d.startHTTP(addr); err != nil {
			d.srv.Close()
			return err
		}
		rt.log.Info("metrics listening", "addr", d.httpLn.Addr().String(), "paths", "/metrics /healthz")
	}
	rt.log.Info("spoofguard started", "version", d.opts.Version, "listen", ln.Addr().String(), "via", how,
		"mode", string(rt.cfg.Milter.Mode), "domains", len(rt.cfg.Domains), "relays", len(rt.cfg.Relays))
	return nil
}

const viaSystemd = "systemd socket activation"

// listener picks the socket: one passed by systemd, one given in Options,
// or the configured address; its connections are bounded and checked
// (newListener).
func (d *Daemon) listener(cfg *config.Config) (net.Listener, string, error) {
	ln, how, err := d.socket(cfg)
	if err != nil {
		return nil, "", err
	}
	return newListener(ln, d.limits(cfg)), how, nil
}

func (d *Daemon) socket(cfg *config.Config) (net.Listener, string, error) {
	if lns, err := activation.Listeners(); err == nil {
		for _, ln := range lns {
			if ln != nil {
				return ln, viaSystemd, nil
			}
		}
	}
	if d.opts.Listener != nil {
		return d.opts.Listener, "given listener", nil
	}
	m := cfg.Milter
	ln, err := listenSocket(m.Listen, m.SocketMode.FileMode, m.SocketGroup)
	return ln, m.Listen.String(), err
}

// Addr is the address the milter listens on (after Start).
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Reload loads the configuration file again. A file with problems is
// refused and the running configuration stays; the error says why.
func (d *Daemon) Reload() error {
	d.reload.Lock()
	defer d.reload.Unlock()
	old := d.current()
	cfg, err := config.LoadConfig(d.opts.ConfigPath)
	if err == nil {
		var rt *runtime
		if rt, err = d.build(cfg, old); err == nil {
			d.state.Store(rt)
			d.metrics.SetResolver(old.resolver, rt.resolver)
			old.engine.Close()
			if drift := d.listenDrift(cfg); drift != nil {
				rt.log.Warn("listen addresses changed; they take effect at the next restart", drift...)
			}
			if maxSessions(cfg) != maxSessions(old.cfg) {
				rt.log.Warn("milter.max_sessions changed; it takes effect at the next restart")
			}
			d.metrics.reload(true)
			rt.log.LogAttrs(context.Background(), slog.LevelInfo, "configuration reloaded",
				append([]slog.Attr{slog.String("file", d.opts.ConfigPath), slog.Int("domains", len(cfg.Domains))},
					configChanges(old.cfg, cfg)...)...)
			return nil
		}
	}
	d.metrics.reload(false)
	old.log.Error("configuration reload refused; keeping the running configuration", "file", d.opts.ConfigPath, "err", err.Error())
	return err
}

// Shutdown stops accepting connections and lets sessions in progress
// finish within milter.drain_timeout; then it closes what is left.
func (d *Daemon) Shutdown() {
	d.draining.Store(true)
	rt := d.current()
	drain := rt.cfg.Milter.DrainTimeout.Duration
	rt.log.Info("shutting down", "drain_timeout", drain.String(), "sessions", d.metrics.sessions.Load())
	// The sessions still open are counted just before they are closed:
	// once closed, they leave the count at their own pace.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var closing atomic.Int64
	timer := time.AfterFunc(drain, func() {
		closing.Store(d.metrics.sessions.Load())
		cancel()
	})
	defer timer.Stop()
	if err := d.srv.Shutdown(ctx); errors.Is(err, context.Canceled) {
		rt.log.Warn("drain timeout reached; closed the remaining sessions", "sessions_closed", closing.Load(), "drain_timeout", drain.String())
	}
	if d.http != nil {
		d.http.Close()
	}
	rt.engine.Close()
	d.stopStore()
	// A socket systemd handed over belongs to systemd and stays for the
	// next start; our own we clean up.
	if d.ln != nil && d.ln.Addr().Network() == "unix" && !d.activated {
		os.Remove(d.ln.Addr().String())
	}
	rt.log.Info("stopped")
}

// Run starts the daemon and serves until SIGTERM or SIGINT, reloading on
// SIGHUP, and keeps systemd informed (Type=notify).
func (d *Daemon) Run() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if err := d.Start(); err != nil {
		return err
	}
	daemon.SdNotify(false, daemon.SdNotifyReady)
	for {
		select {
		case err := <-d.served:
			return fmt.Errorf("milter server stopped: %w", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				daemon.SdNotify(false, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
				d.Reload()
				daemon.SdNotify(false, daemon.SdNotifyReady)
				continue
			}
			daemon.SdNotify(false, daemon.SdNotifyStopping)
			d.Shutdown()
			return nil
		}
	}
}
