//go:build load

package load

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// TestLatency measures what spoofguard adds to the reply to the final dot
// of DATA, the moment the SMTP client waits for the verdict: one session
// per setup sends -load.latency messages one after another, with a warm
// DNS cache, and the setups take turns in blocks of 100 so that the
// machine's other load falls on all of them alike. The added latency is
// the difference of each quantile to Postfix without a milter. As in
// TestThroughput, the target is checked after the subtest that measures.
func TestLatency(t *testing.T) {
	var names []string
	var times [][]time.Duration
	if !t.Run("runs", func(t *testing.T) { names, times = latencyRuns(t) }) {
		return
	}
	base99 := quantile(times[0], 0.99)
	for i, name := range names[1:] {
		added := quantile(times[i+1], 0.99) - base99
		target(t, added <= 5*time.Millisecond, "%s adds %s at p99 to the reply to the final dot (target ≤ 5 ms)", name, ms(added))
	}
}

// latencyRuns sends the messages of TestLatency and returns the setups'
// names and their end-of-data times, no milter first.
func latencyRuns(t *testing.T) ([]string, [][]time.Duration) {
	w := newWorld(t, 300)
	msg := w.partnerMessage(t, 4<<10)
	setups := newSetups(t, w)
	clients := make([]*postfix.SMTPClient, len(setups))
	for i, s := range setups {
		c, err := postfix.DialSMTP(s.mta.Addr, clientIP, clientHelo)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		defer c.Close()
		clients[i] = c
	}
	send := func(i int) time.Duration {
		tr, err := clients[i].Send("news@partner.example", []string{rcpt}, msg)
		if err != nil {
			t.Fatalf("%s: %v", setups[i].name, err)
		}
		if tr.Stage != postfix.StageAccepted || tr.Code != 250 {
			t.Fatalf("%s: not accepted: %s %s", setups[i].name, tr.Stage, tr.Reply)
		}
		return tr.EndOfData
	}
	for i := range setups { // warm up: DNS cache, cleanup processes
		for range 20 {
			send(i)
		}
	}
	times := make([][]time.Duration, len(setups))
	const block = 100
	for sent := 0; sent < *flagLatency; sent += block {
		for i := range setups {
			for range min(block, *flagLatency-sent) {
				times[i] = append(times[i], send(i))
			}
		}
	}
	var b strings.Builder
	b.WriteString("\n| setup | messages | p50 | p90 | p99 | max | added p50 | added p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	base50, base99 := quantile(times[0], 0.50), quantile(times[0], 0.99)
	names := make([]string, len(setups))
	for i, s := range setups {
		names[i] = s.name
		ts := times[i]
		p50, p99 := quantile(ts, 0.50), quantile(ts, 0.99)
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", s.name, len(ts), ms(p50), ms(quantile(ts, 0.90)),
			ms(p99), ms(quantile(ts, 1)), ms(p50-base50), ms(p99-base99))
	}
	for _, s := range setups[1:] {
		m, err := s.daemon.scrape()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: the daemon's own time at end of body: p50 %s, p99 %s (its histogram)\n",
			s.name, stageQuantile(m, "body", 0.5), stageQuantile(m, "body", 0.99))
		checkDelivered(t, s.mta)
	}
	fmt.Fprintf(&b, "load average at the end: %.2f\n", loadAvg())
	t.Log(b.String())
	return names, times
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
