package milter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/spoofguard/spoofguard/config"
)

// syslogTag names our lines in mail.log, as "postfix/smtpd" names
// Postfix's.
const syslogTag = "spoofguard"

// logger builds the logger of a configuration: standard error (the
// journal under systemd) or the local syslog socket with the mail
// facility, where Postfix, OpenDKIM and OpenDMARC log too.
func (d *Daemon) logger(c config.LogConfig) (*slog.Logger, error) {
	level := c.Level.Level
	if c.Output == "syslog" {
		w, err := d.syslogWriter()
		if err != nil {
			return nil, err
		}
		return slog.New(newSyslogHandler(w, c.Format, level)), nil
	}
	opts := &slog.HandlerOptions{Level: level}
	if underJournal(d.out) {
		opts.ReplaceAttr = dropTime
	}
	return slog.New(formatHandler(d.out, c.Format, opts)), nil
}

func formatHandler(w io.Writer, format string, opts *slog.HandlerOptions) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// dropTime leaves the time out of a line whose receiver (the journal, the
// syslog daemon) stamps it anyway: two timestamps per line only clutter.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// underJournal reports whether w is the stream systemd connected to the
// journal. systemd sets JOURNAL_STREAM to that stream's "device:inode"
// (systemd.exec(5)); a child whose standard error was redirected inherits
// the variable, so the file itself is compared.
func underJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	env := os.Getenv("JOURNAL_STREAM")
	if !ok || env == "" {
		return false
	}
	dev, ino, ok := strings.Cut(env, ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return dev == strconv.FormatUint(uint64(st.Dev), 10) && ino == strconv.FormatUint(st.Ino, 10)
}

// syslogWriter connects to the syslog socket once; reloads reuse the
// connection (log/syslog reconnects by itself when the syslog daemon
// restarts).
func (d *Daemon) syslogWriter() (*syslog.Writer, error) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	if d.syslog != nil {
		return d.syslog, nil
	}
	network, addr := "", "" // the local socket: /dev/log
	if d.opts.SyslogSocket != "" {
		network, addr = "unixgram", d.opts.SyslogSocket
	}
	w, err := syslog.Dial(network, addr, syslog.LOG_MAIL|syslog.LOG_INFO, syslogTag)
	if err != nil {
		return nil, fmt.Errorf("log.output = \"syslog\": %w", err)
	}
	d.syslog = w
	return w, nil
}

// syslogHandler sends each record with the syslog severity of its level
// (RFC 5424 §6.2.1): one formatting handler per severity, all sharing the
// connection, which adds priority, time and tag.
type syslogHandler struct {
	bySeverity [4]slog.Handler // debug, info, warning, err
}

func newSyslogHandler(w *syslog.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}
	var h syslogHandler
	for i, send := range []func(string) error{w.Debug, w.Info, w.Warning, w.Err} {
		h.bySeverity[i] = formatHandler(severityWriter(send), format, opts)
	}
	return &h
}

// severityWriter hands one formatted line to the syslog connection.
type severityWriter func(string) error

func (f severityWriter) Write(p []byte) (int, error) {
	if err := f(string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *syslogHandler) pick(l slog.Level) slog.Handler {
	switch {
	case l < slog.LevelInfo:
		return h.bySeverity[0]
	case l < slog.LevelWarn:
		return h.bySeverity[1]
	case l < slog.LevelError:
		return h.bySeverity[2]
	}
	return h.bySeverity[3]
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.bySeverity[0].Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.pick(r.Level).Handle(ctx, r)
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.derive(func(x slog.Handler) slog.Handler { return x.WithAttrs(as) })
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return h.derive(func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
}

func (h *syslogHandler) derive(f func(slog.Handler) slog.Handler) slog.Handler {
	var out syslogHandler
	for i, x := range h.bySeverity {
		out.bySeverity[i] = f(x)
	}
	return &out
}
