package milter

import (
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"

	"github.com/spoofguard/spoofguard/config"
)

// configChanges says what a reload changes, as log attributes: the mode,
// protected domains and relays added, removed or changed, and the other
// tables whose settings differ. "changes=none" for an unchanged file.
func configChanges(old, cfg *config.Config) []slog.Attr {
	var out []slog.Attr
	if old.Milter.Mode != cfg.Milter.Mode {
		out = append(out, slog.String("mode", string(old.Milter.Mode)+" -> "+string(cfg.Milter.Mode)))
	}
	domain := func(d config.DomainConfig) string { return d.Name }
	out = appendNamedChanges(out, "domains", old.Domains, cfg.Domains, domain)
	relay := func(r config.RelayConfig) string { return r.Name }
	out = appendNamedChanges(out, "relays", old.Relays, cfg.Relays, relay)
	if tables := changedTables(old, cfg); len(tables) > 0 {
		out = append(out, slog.String("settings_changed", strings.Join(tables, ",")))
	}
	if len(out) == 0 {
		out = append(out, slog.String("changes", "none"))
	}
	return out
}

// appendNamedChanges compares two lists of named entries by name.
func appendNamedChanges[T any](out []slog.Attr, what string, old, cur []T, name func(T) string) []slog.Attr {
	var added, removed, changed []string
	for _, c := range cur {
		i := slices.IndexFunc(old, func(o T) bool { return name(o) == name(c) })
		switch {
		case i < 0:
			added = append(added, name(c))
		case !reflect.DeepEqual(old[i], c):
			changed = append(changed, name(c))
		}
	}
	for _, o := range old {
		if !slices.ContainsFunc(cur, func(c T) bool { return name(c) == name(o) }) {
			removed = append(removed, name(o))
		}
	}
	for _, l := range []struct {
		suffix string
		names  []string
	}{{"_added", added}, {"_removed", removed}, {"_changed", changed}} {
		if len(l.names) > 0 {
			out = append(out, slog.String(what+l.suffix, strings.Join(l.names, ",")))
		}
	}
	return out
}

// changedTables names the single tables ([milter], [dns], ...) whose
// settings differ; the milter mode is reported on its own.
func changedTables(old, cfg *config.Config) []string {
	a, b := *old, *cfg
	b.Milter.Mode = a.Milter.Mode
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i, f := range reflect.VisibleFields(va.Type()) {
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" || f.Type.Kind() == reflect.Slice {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, tag)
		}
	}
	return out
}

// listenDrift compares the listen settings of a reloaded file with the
// sockets really in use, which only a restart changes. A socket systemd
// or the caller handed over is not ours to move, so milter.listen is not
// compared then.
func (d *Daemon) listenDrift(cfg *config.Config) []any {
	var out []any
	if d.ln != nil && d.opts.Listener == nil && !d.activated && !sameSocket(cfg.Milter.Listen, d.ln.Addr()) {
		out = append(out, "milter_listen", cfg.Milter.Listen.String(), "milter_in_use", d.ln.Addr().Network()+":"+d.ln.Addr().String())
	}
	inUse := ""
	if d.httpLn != nil {
		inUse = d.httpLn.Addr().String()
	}
	// The metrics endpoint listens on "tcp" (startHTTP), so its address
	// is resolved the same way here.
	metrics := config.Listen{Network: "tcp", Address: cfg.Metrics.Listen}
	if (cfg.Metrics.Listen == "") != (inUse == "") ||
		(inUse != "" && !sameSocket(metrics, d.httpLn.Addr())) {
		out = append(out, "metrics_listen", cfg.Metrics.Listen, "metrics_in_use", inUse)
	}
	return out
}

// sameSocket reports whether a listen setting names the socket a: the
// same path, or the same address and port (port 0 is any port; a host
// name is resolved as the listener resolved it).
func sameSocket(l config.Listen, a net.Addr) bool {
	if l.Network == "unix" {
		return a.Network() == "unix" && a.String() == l.Address
	}
	ta, ok := a.(*net.TCPAddr)
	want, err := net.ResolveTCPAddr(l.Network, l.Address)
	if !ok || err != nil {
		return false
	}
	if want.Port != 0 && want.Port != ta.Port {
		return false
	}
	if want.IP == nil || want.IP.IsUnspecified() {
		return ta.IP.IsUnspecified()
	}
	return want.IP.Equal(ta.IP)
}
