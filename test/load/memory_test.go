//go:build load

package load

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

const mb = 1 << 20

// TestMemory measures the daemon's peak resident memory (VmHWM): with 200
// SMTP sessions open at once, each holding its milter connection, and for
// one 1 KB message against one 50 MB message. The body is streamed
// through DKIM verification, never held whole, so a big message must not
// cost memory in proportion to its size.
func TestMemory(t *testing.T) {
	w := newWorld(t, 300)
	t.Run("200 sessions", func(t *testing.T) {
		d := w.startDaemon(t, "sessions", daemonOptions{})
		mta := startPostfix(t, d.Listen())
		file := w.sourceFile(t, "partner-4k.eml", w.partnerMessage(t, 4<<10))
		const sessions, n = 200, 1000
		// Each session sends its messages a second apart over one
		// connection, so all are open at once; watch the open milter
		// sessions meanwhile.
		ctx, cancel := context.WithCancel(context.Background())
		var peakOpen float64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if m, err := d.scrape(); err == nil {
					peakOpen = max(peakOpen, sum(m, "spoofguard_sessions_open"))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		res, err := mta.RunSource(context.Background(), postfix.Source{Sessions: sessions, Messages: n,
			File: file, From: "news@partner.example", To: rcpt, Helo: clientHelo, KeepOpen: true, Pause: time.Second,
			Client: clientIP, Shim: bindShim(t)})
		cancel()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if err := mta.WaitSettled(5 * time.Minute); err != nil {
			t.Fatal(err)
		}
		delivered, err := mta.MaildirCounts()
		if err != nil {
			t.Fatal(err)
		}
		if delivered["example.org"] != n || res.Rejected+res.TempFailed != 0 {
			t.Errorf("%d sent, %d delivered, refusals %v", n, delivered["example.org"], res.Refusals)
		}
		peak, _, err := postfix.ProcMemory(d.PID())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d messages over %d sessions in %v: at most %.0f milter sessions open at once; peak RSS %.1f MB (load %.2f)",
			n, sessions, res.Elapsed.Round(time.Millisecond), peakOpen, float64(peak)/mb, loadAvg())
		if peakOpen < sessions {
			t.Errorf("only %.0f milter sessions were open at once, want %d", peakOpen, sessions)
		}
		target(t, peak <= 64*mb, "peak RSS %.1f MB with %d sessions (target ≤ 64 MB)", float64(peak)/mb, sessions)
	})
	t.Run("message size", func(t *testing.T) {
		d := w.startDaemon(t, "size", daemonOptions{})
		mta := startPostfix(t, d.Listen())
		c, err := postfix.DialSMTP(mta.Addr, clientIP, clientHelo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peakAfter := func(size int) int64 {
			tr, err := c.Send("news@partner.example", []string{rcpt}, w.partnerMessage(t, size))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Stage != postfix.StageAccepted {
				t.Fatalf("%d-byte message not accepted: %s %s", size, tr.Stage, tr.Reply)
			}
			peak, _, err := postfix.ProcMemory(d.PID())
			if err != nil {
				t.Fatal(err)
			}
			return peak
		}
		small := peakAfter(1 << 10)
		big := peakAfter(50 * mb)
		if err := mta.WaitSettled(2 * time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := d.countLog(t, "msg=message", "dkim=pass:partner.example", "verdict=accept"); n != 2 {
			t.Errorf("%d of the 2 messages logged with DKIM passing", n)
		}
		t.Logf("peak RSS after a 1 KB message %.1f MB, after a 50 MB one %.1f MB (×%.2f)",
			float64(small)/mb, float64(big)/mb, float64(big)/float64(small))
		target(t, big <= 2*small, "a 50 MB message peaks at %.2f× the RSS of a 1 KB one (target ≤ 2×)", float64(big)/float64(small))
	})
}
