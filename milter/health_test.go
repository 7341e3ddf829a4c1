package milter

import (
	"io"
	"net/http"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// get fetches a path from the daemon's metrics listener over HTTP.
func get(t *testing.T, d *Daemon, path string) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.MetricsAddr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

const metricsLines = "drain_timeout = \"5s\"\n[metrics]\nlisten = \"127.0.0.1:0\""

// TestMetricsEndpoint scrapes /metrics over HTTP: the daemon's own series
// under their names, the library's process_* and go_* series, and
// build_info with the version the daemon was started with.
func TestMetricsEndpoint(t *testing.T) {
	w := newIdleDaemonWorld(t, metricsLines)
	w.startWith(Options{Version: "9.8.7-test"})
	send(t, w.d.Addr().String(), "192.0.2.66", "spam.example", "", "ceo@example.org", []string{"user@edge.example"},
		w.message("CEO <ceo@example.org>", false, ""))

	code, body, h := get(t, w.d, "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		`spoofguard_build_info{goversion="` + goruntime.Version() + `",version="9.8.7-test"} 1`,
		"\nprocess_cpu_seconds_total ",
		"\nprocess_open_fds ",
		"\ngo_goroutines ",
		`spoofguard_messages_total{action="reject",report_only="false",rule="envelope-forgery"} 1`,
		`spoofguard_stage_duration_seconds_bucket{stage="mail",le="+Inf"} 1`,
		`spoofguard_stage_duration_seconds_count{stage="mail"} 1`,
		"# TYPE spoofguard_stage_duration_seconds histogram",
		"\nspoofguard_sessions_open ",
		`spoofguard_config_reloads_total{result="failed"} 0`,
		"\nspoofguard_dns_lookups_total ",
		"\nspoofguard_dns_failures_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// TestHealthEndpoint: 200 while serving, 503 as soon as a shutdown starts
// draining, while the session in progress still runs.
func TestHealthEndpoint(t *testing.T) {
	w := newDaemonWorld(t, metricsLines)
	if code, body, _ := get(t, w.d, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("serving: /healthz = %d %q", code, body)
	}
	s, err := gomilter.NewClient("tcp", w.d.Addr().String()).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	s.Conn("filter.example.org", gomilter.FamilyInet, 1, "198.51.100.5")
	done := make(chan struct{})
	go func() {
		w.d.Shutdown()
		close(done)
	}()
	deadline := time.Now().Add(3 * time.Second)
	code, body := 0, ""
	for time.Now().Before(deadline) {
		if code, body, _ = get(t, w.d, "/healthz"); code == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Errorf("draining: /healthz = %d %q", code, body)
	}
	s.Close()
	<-done
}
