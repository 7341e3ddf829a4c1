package milter

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// lastLine is the last JSON log line with the message msg, "" for none.
func (w *daemonWorld) lastLine(msg string) map[string]any {
	var last map[string]any
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			last = rec
		}
	}
	return last
}

// edit rewrites the world's configuration file with old replaced by new.
func (w *daemonWorld) edit(old, new string) {
	w.t.Helper()
	data, err := os.ReadFile(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	out := strings.Replace(string(data), old, new, 1)
	if out == string(data) {
		w.t.Fatalf("%q not in the configuration", old)
	}
	if err := os.WriteFile(w.cfgPath, []byte(out), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *daemonWorld) mustReload() {
	w.t.Helper()
	if err := w.d.Reload(); err != nil {
		w.t.Fatal(err)
	}
}

// TestReloadSaysWhatChanged: the reload line names the mode change, the
// domains and relays added, removed or changed, and the other tables
// whose settings changed; an unchanged file says so.
func TestReloadSaysWhatChanged(t *testing.T) {
	w := newDaemonWorld(t, "")
	w.mustReload()
	if got := w.lastLine("configuration reloaded"); got["changes"] != "none" {
		t.Errorf("unchanged file: %v", got)
	}

	w.writeConfig(`mode = "report-only"`)
	w.edit("[[domain]]\nname = \"edge.example\"\n", "[[domain]]\nname = \"new.example\"\nvia = \"filter\"\n")
	w.edit("networks = [\"198.51.100.0/24\"]", "networks = [\"198.51.100.0/25\"]\n[[relay]]\nname = \"backup\"\nnetworks = [\"203.0.113.64/26\"]")
	w.edit(`timeout = "500ms"`, `timeout = "700ms"`)
	w.mustReload()
	got := w.lastLine("configuration reloaded")
	for k, want := range map[string]string{
		"mode":             "enforce -> report-only",
		"domains_added":    "new.example",
		"domains_removed":  "edge.example",
		"relays_added":     "backup",
		"relays_changed":   "filter",
		"settings_changed": "dns",
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %q", k, got[k], want)
		}
	}
	if _, ok := got["changes"]; ok {
		t.Errorf("a changed file reported as unchanged: %v", got)
	}
}

// TestReloadListenDrift: the warning compares the file with the sockets
// in use, not with the previous file: the port 0 a test listens on and
// the port really bound are the same socket; another port is not.
func TestReloadListenDrift(t *testing.T) {
	w := newDaemonWorld(t, metricsLines)
	port := w.d.Addr().(*net.TCPAddr).Port
	mport := w.d.MetricsAddr().(*net.TCPAddr).Port
	const warning = "listen addresses changed; they take effect at the next restart"

	w.edit(`listen = "inet:127.0.0.1:0"`, fmt.Sprintf(`listen = "inet:127.0.0.1:%d"`, port))
	w.edit(`listen = "127.0.0.1:0"`, fmt.Sprintf(`listen = "localhost:%d"`, mport))
	w.mustReload()
	if got := w.lastLine(warning); got != nil {
		t.Errorf("the sockets in use, spelled out: %v", got)
	}

	w.edit(fmt.Sprintf(`listen = "inet:127.0.0.1:%d"`, port), `listen = "inet:127.0.0.1:1"`)
	w.mustReload()
	got := w.lastLine(warning)
	if got == nil || got["milter_listen"] != "inet:127.0.0.1:1" || got["milter_in_use"] != fmt.Sprintf("tcp:127.0.0.1:%d", port) {
		t.Errorf("another port: %v", got)
	}
	if _, ok := got["metrics_listen"]; ok {
		t.Errorf("metrics.listen unchanged but reported: %v", got)
	}
}

// TestDrainCountsClosedSessions: the drain warning says how many sessions
// the stop cut off.
func TestDrainCountsClosedSessions(t *testing.T) {
	w := newDaemonWorld(t, `drain_timeout = "200ms"`)
	for range 2 {
		s, err := gomilter.NewClient("tcp", w.d.Addr().String()).Session(gomilter.NewMacroBag())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Conn("x", gomilter.FamilyInet, 1, "192.0.2.1")
	}
	deadline := time.Now().Add(3 * time.Second)
	for w.d.metrics.sessions.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	w.d.Shutdown()
	got := w.lastLine("drain timeout reached; closed the remaining sessions")
	if got == nil || got["sessions_closed"] != float64(2) {
		t.Errorf("drain warning: %v\n%s", got, w.logs.String())
	}
}
