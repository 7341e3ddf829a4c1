//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// privatePostgres is a PostgreSQL server of one test's own, on
// 127.0.0.1, so that the test may stop it while daemons write to it.
type privatePostgres struct {
	bin, data, url string
}

// startPostgres initialises and starts a throw-away cluster from Debian's
// postgresql package (.ci/postgres.sh installs it); without the package
// the test is skipped, or fails under CI.
func startPostgres(t *testing.T) *privatePostgres {
	t.Helper()
	initdb, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdb) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("no PostgreSQL server binaries: .ci/postgres.sh installs them")
		}
		t.Skip("no PostgreSQL server binaries (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "spoofguard-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg := &privatePostgres{bin: filepath.Dir(initdb[len(initdb)-1]), data: filepath.Join(dir, "data")}
	mustRun(t, "chown", "-R", "postgres:postgres", dir)
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "initdb"), "-D", pg.data, "-A", "trust", "-U", "postgres", "--no-sync")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	mustRun(t, "runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start")
	t.Cleanup(func() { pg.stop(t) })
	mustRun(t, "runuser", "-u", "postgres", "--", "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-c", "CREATE DATABASE spoofguard")
	pg.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/spoofguard?sslmode=disable&connect_timeout=2", port)
	return pg
}

func (pg *privatePostgres) stop(t *testing.T) {
	exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data, "-m", "fast", "-w", "stop").Run()
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// metric reads one series of the daemon's metrics endpoint; -1 when it
// is not there.
func metric(t *testing.T, addr, series string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` (\d+)`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestStorePostgres: two back ends (each a Postfix with its daemon)
// write to one PostgreSQL server, and one report covers both. Then the
// server stops in the middle of the run: mail goes on being delivered,
// each reply as quick as before, and the daemon's metrics count the
// records it could not write.
func TestStorePostgres(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metrics := "127.0.0.1:" + strconv.Itoa(port)
	store := "[store]\nurl = \"" + pg.url + "\""
	mx1 := newSendersWorldWith(t, false, "report-only", "", store+"\n[metrics]\nlisten = \""+metrics+"\"")
	mx2 := newSendersWorldWith(t, false, "report-only", "", store)
	for _, w := range []*sendersWorld{mx1, mx2} {
		if r, _ := w.send(t, "bounce@mcsv.example", true); r.Stage() != postfix.StageAccepted {
			t.Fatalf("newsletter refused at %s: %q", r.Stage(), r.Reply())
		}
	}
	rep := waitReport(t, mx1.config, 2)
	if rep.Records != 2 || len(rep.Domains) != 1 || len(rep.Domains[0].Fixes) != 1 ||
		!strings.Contains(rep.Domains[0].Fixes[0].Group, "mcsv.example") {
		t.Fatalf("report over both daemons: %+v", rep)
	}

	pg.stop(t)
	for i := range 5 {
		start := time.Now()
		r, id := mx1.send(t, "bounce@mcsv.example", true)
		took := time.Since(start)
		if r.Stage() != postfix.StageAccepted {
			t.Fatalf("message %d with the store down: %s %q", i, r.Stage(), r.Reply())
		}
		mx1.mta.WaitDelivered(t, id, 10*time.Second)
		if took > 3*time.Second {
			t.Errorf("message %d took %v with the store down", i, took)
		}
	}
	series := `spoofguard_store_records_dropped_total{reason="store_error"}`
	for deadline := time.Now().Add(15 * time.Second); metric(t, metrics, series) < 5; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d after the server stopped, want 5", series, metric(t, metrics, series))
		}
	}
	if n := metric(t, metrics, "spoofguard_store_records_written_total"); n != 1 {
		t.Errorf("written = %d, want the 1 record from before the stop", n)
	}
}
