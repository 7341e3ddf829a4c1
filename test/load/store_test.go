//go:build load

package load

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// TestStoreThroughput compares Postfix's throughput with spoofguard
// recording every decision in its embedded store to the same without the
// store, runs of the two alternating, at each -load.sessions, the median
// of -load.reps runs each. Every message names the protected domain (an
// example.org newsletter signed by example.org), so each one gives a
// record. Target: the store costs at most 5% of the throughput, and no
// record is dropped.
func TestStoreThroughput(t *testing.T) {
	sessions, _ := parseSessions()
	w := newWorld(t, 300)
	key, err := postfix.NewRSAKey("example.org", "news", 2048)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := key.Record()
	if err != nil {
		t.Fatal(err)
	}
	w.dns.MustAdd(t, rec)
	msg := postfix.Message{From: "Example News <news@example.org>", To: rcpt, Subject: "load",
		MessageID: postfix.NewMessageID("example.org"),
		Body:      strings.Repeat("The quick brown fox jumps over the lazy dog; 0123456789 abcdefghij.\n", 60)}
	signed, err := key.Sign(msg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	file := w.sourceFile(t, "own-4k.eml", signed)

	off := w.startDaemon(t, "store-off", daemonOptions{store: "[store]\nenabled = false"})
	on := w.startDaemon(t, "store-on", daemonOptions{store: "[store]\npath = \"" + filepath.Join(w.dir, "decisions.db") + "\""})
	setups := []*setup{
		{name: "store off", mta: startPostfix(t, off.Listen()), daemon: off, milterCPU: daemonCPU(off)},
		{name: "store on", mta: startPostfix(t, on.Listen()), daemon: on, milterCPU: daemonCPU(on)},
	}
	sent := 0
	for _, s := range setups {
		s.measure(t, file, 10, 200) // warm up
	}
	sent += 200
	results := map[string]map[int][]run{"store off": {}, "store on": {}}
	for _, c := range sessions {
		for rep := 0; rep < *flagReps; rep++ {
			for _, s := range setups {
				r := s.measure(t, file, c, *flagMessages)
				results[s.name][c] = append(results[s.name][c], r)
				t.Logf("%-9s %3d sessions rep %d: %7.1f msgs/s  milter cpu/msg %5.0f µs", s.name, c, rep+1, r.rate(), perMsg(r.daemonCPU, r.sent))
			}
			sent += *flagMessages
		}
	}
	t.Logf("| sessions | store off msgs/s | store on msgs/s | ratio |")
	t.Logf("|---:|---:|---:|---:|")
	for _, c := range sessions {
		offRate, onRate := medianRate(results["store off"][c]), medianRate(results["store on"][c])
		t.Logf("| %d | %.1f | %.1f | %.3f |", c, offRate, onRate, onRate/offRate)
		target(t, onRate >= 0.95*offRate, "%d sessions: %.1f msgs/s with the store, %.1f without (at least 0.95)", c, onRate, offRate)
	}
	checkStoreWrote(t, on, sent)
}

// checkStoreWrote waits for the store's writer to catch up and checks
// that it wrote one record per message and dropped none.
func checkStoreWrote(t *testing.T, d *daemon, want int) {
	t.Helper()
	var m map[string]float64
	for i := 0; i < 50; i++ {
		var err error
		if m, err = d.scrape(); err != nil {
			t.Fatal(err)
		}
		if int(m["spoofguard_store_records_written_total"]) >= want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	written, dropped := m["spoofguard_store_records_written_total"], sum(m, "spoofguard_store_records_dropped_total")
	t.Logf("store: %.0f records written, %.0f dropped, of %d messages", written, dropped, want)
	if int(written) != want || dropped != 0 {
		t.Errorf("store wrote %.0f and dropped %.0f records for %d messages", written, dropped, want)
	}
}
