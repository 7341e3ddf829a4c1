//go:build load

package load

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// setup is one way of running Postfix: with no milter, or with spoofguard
// attached over inet: or unix:.
type setup struct {
	name   string
	mta    *postfix.Instance
	daemon *daemon // the spoofguard daemon, if attached
	// milterCPU reads the CPU time the milter has used so far; nil
	// without milter.
	milterCPU func() (time.Duration, error)
}

// newSetups starts the three setups side by side on one world, each with
// its own Postfix (idle ones cost nothing).
func newSetups(t *testing.T, w *world) []*setup {
	t.Helper()
	inet := w.startDaemon(t, "inet", daemonOptions{})
	unix := w.startDaemon(t, "unix", daemonOptions{unix: true})
	return []*setup{
		{name: "no milter", mta: startPostfix(t, "")},
		{name: "inet", mta: startPostfix(t, inet.Listen()), daemon: inet, milterCPU: daemonCPU(inet)},
		{name: "unix", mta: startPostfix(t, unix.Listen()), daemon: unix, milterCPU: daemonCPU(unix)},
	}
}

func daemonCPU(d *daemon) func() (time.Duration, error) {
	return func() (time.Duration, error) { return postfix.ProcCPU(d.PID()) }
}

// nullSetup is Postfix with the null milter attached over inet:.
func nullSetup(t *testing.T) *setup {
	return &setup{name: "null milter", mta: startPostfix(t, startNullMilter(t)),
		milterCPU: func() (time.Duration, error) { return processCPU(), nil }}
}

// run is one smtp-source run and what it cost.
type run struct {
	sent, delivered, held, rejected, tempfailed int
	elapsed                                     time.Duration
	postfixCPU, daemonCPU, sourceCPU            time.Duration
	load                                        float64 // load average at the end (this run's processes count too)
	// others is the CPU the rest of the machine used meanwhile — other
	// tenants, time stolen by the hypervisor, and this test process
	// (except when it runs the null milter) — in cores: busy time from
	// /proc/stat less Postfix, the milter and smtp-source.
	others float64
}

func (r run) rate() float64 { return float64(r.sent) / r.elapsed.Seconds() }

// perMsg is CPU time per message in microseconds.
func perMsg(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// measure sends n messages over sessions parallel sessions, waits until
// Postfix has delivered them, and accounts for every one: delivered +
// held + rejected + tempfailed must equal sent. The CPU figures cover
// Postfix receiving and delivering, the daemon, and smtp-source.
func (s *setup) measure(t *testing.T, file string, sessions, n int) run {
	t.Helper()
	before, err := s.mta.MaildirCounts()
	if err != nil {
		t.Fatal(err)
	}
	queues, err := s.mta.QueueCounts()
	if err != nil {
		t.Fatal(err)
	}
	pfCPU, err := s.mta.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	var sgCPU time.Duration
	if s.milterCPU != nil {
		if sgCPU, err = s.milterCPU(); err != nil {
			t.Fatal(err)
		}
	}
	busy0 := machineBusy()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := s.mta.RunSource(ctx, postfix.Source{Sessions: sessions, Messages: n, File: file,
		From: "news@partner.example", To: rcpt, Helo: clientHelo, Client: clientIP, Shim: bindShim(t)})
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	if err := s.mta.WaitSettled(5 * time.Minute); err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	r := run{sent: n, elapsed: res.Elapsed, sourceCPU: res.CPU, rejected: res.Rejected,
		tempfailed: res.TempFailed, load: loadAvg()}
	after, err := s.mta.MaildirCounts()
	if err != nil {
		t.Fatal(err)
	}
	r.delivered = after["example.org"] - before["example.org"]
	q, err := s.mta.QueueCounts()
	if err != nil {
		t.Fatal(err)
	}
	r.held = q["hold"] - queues["hold"]
	if r.postfixCPU, err = s.mta.CPUTime(); err != nil {
		t.Fatal(err)
	}
	r.postfixCPU -= pfCPU
	if s.milterCPU != nil {
		cpu, err := s.milterCPU()
		if err != nil {
			t.Fatal(err)
		}
		r.daemonCPU = cpu - sgCPU
	}
	ours := r.postfixCPU + r.daemonCPU + r.sourceCPU
	r.others = (machineBusy() - busy0 - ours).Seconds() / time.Since(start).Seconds()
	if got := r.delivered + r.held + r.rejected + r.tempfailed; got != n {
		t.Errorf("%s, %d sessions: %d sent but %d delivered + %d held + %d rejected + %d tempfailed = %d",
			s.name, sessions, n, r.delivered, r.held, r.rejected, r.tempfailed, got)
	}
	if r.delivered != n {
		t.Errorf("%s, %d sessions: legitimate mail not all delivered: %+v; refusals: %v", s.name, sessions, r, res.Refusals)
	}
	return r
}

// TestThroughput compares Postfix's throughput with spoofguard attached
// (inet: and unix:) to Postfix alone — and, unless -load.null=false, with
// the null milter, which shows what any milter of this protocol shape
// costs Postfix — at each -load.sessions, repeating
// each run -load.reps times and reporting the median. Runs of the three
// setups alternate, so a change in the machine's other load hits all of
// them alike. Throughput is messages accepted per second of smtp-source's
// run; delivery to the Maildirs happens meanwhile and is waited for.
//
// The runs are a subtest, so that a missed target (checked after it) does
// not make the harness dump every Postfix log of the run.
func TestThroughput(t *testing.T) {
	var setups []*setup
	var results map[string]map[int][]run
	sessions, _ := parseSessions()
	if !t.Run("runs", func(t *testing.T) { setups, results = throughputRuns(t, sessions) }) {
		return
	}
	report(t, setups, sessions, results)
}

// throughputRuns does the runs of TestThroughput and checks that every
// message was judged.
func throughputRuns(t *testing.T, sessions []int) ([]*setup, map[string]map[int][]run) {
	w := newWorld(t, 300)
	file := w.sourceFile(t, "partner-4k.eml", w.partnerMessage(t, 4<<10))
	setups := newSetups(t, w)
	if *flagNull {
		setups = append(setups, nullSetup(t))
	}

	// Warm up: DNS cache, smtpd and cleanup processes, page cache.
	for _, s := range setups {
		s.measure(t, file, 10, 200)
	}
	if t.Failed() {
		t.FailNow()
	}
	results := map[string]map[int][]run{}
	for _, s := range setups {
		results[s.name] = map[int][]run{}
	}
	for _, c := range sessions {
		for rep := 0; rep < *flagReps; rep++ {
			for _, s := range setups {
				r := s.measure(t, file, c, *flagMessages)
				results[s.name][c] = append(results[s.name][c], r)
				t.Logf("%-9s %3d sessions rep %d: %7.1f msgs/s  cpu/msg: postfix %6.0f µs, milter %5.0f µs, smtp-source %4.0f µs  others %.2f cores, load %.2f",
					s.name, c, rep+1, r.rate(), perMsg(r.postfixCPU, r.sent), perMsg(r.daemonCPU, r.sent), perMsg(r.sourceCPU, r.sent), r.others, r.load)
			}
		}
	}
	for _, s := range setups {
		if s.daemon != nil {
			checkChecksRan(t, s)
		}
	}
	return setups, results
}

// report logs the medians as a Markdown table and checks the target:
// spoofguard keeps at least 0.95 of Postfix's throughput.
func report(t *testing.T, setups []*setup, sessions []int, results map[string]map[int][]run) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n| setup | sessions | msgs/s (median of %d) | ratio to no milter | Postfix CPU µs/msg | milter CPU µs/msg | other CPU (cores) | load avg |\n", *flagReps)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range sessions {
		base := medianRate(results["no milter"][c])
		for _, s := range setups {
			rs := results[s.name][c]
			rate := medianRate(rs)
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.3f | %.0f | %.0f | %.2f | %.2f |\n", s.name, c, rate, rate/base,
				medianOf(rs, func(r run) float64 { return perMsg(r.postfixCPU, r.sent) }),
				medianOf(rs, func(r run) float64 { return perMsg(r.daemonCPU, r.sent) }),
				medianOf(rs, func(r run) float64 { return r.others }),
				medianOf(rs, func(r run) float64 { return r.load }))
		}
	}
	t.Log(b.String())
	for _, c := range sessions {
		base := medianRate(results["no milter"][c])
		for _, s := range setups {
			if s.daemon == nil {
				continue
			}
			ratio := medianRate(results[s.name][c]) / base
			target(t, ratio >= 0.95, "%s at %d sessions keeps %.3f of Postfix's throughput (target ≥ 0.95)", s.name, c, ratio)
		}
	}
}

func medianRate(rs []run) float64 { return medianOf(rs, run.rate) }

func medianOf(rs []run, f func(run) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

// checkChecksRan makes sure the daemon really judged the messages: its
// counters show every message accepted, the log shows SPF, DKIM and DMARC
// passing, and a delivered copy carries our Authentication-Results.
func checkChecksRan(t *testing.T, s *setup) {
	t.Helper()
	m, err := s.daemon.scrape()
	if err != nil {
		t.Fatal(err)
	}
	total := sum(m, "spoofguard_messages_total")
	accepted := sum(m, "spoofguard_messages_total", `action="accept"`)
	logged := s.daemon.countLog(t, "msg=message", "client="+clientIP+" ", "class=internet", "spf=pass", "dkim=pass:partner.example", "dmarc=pass:partner.example", "verdict=accept")
	t.Logf("%s: spoofguard_messages_total %.0f (accept %.0f), log lines with spf, dkim and dmarc pass: %d, DNS lookups %.0f (cache hits %.0f)",
		s.name, total, accepted, logged, sum(m, "spoofguard_dns_lookups_total"), sum(m, "spoofguard_dns_cache_hits_total"))
	sessions, _ := parseSessions()
	sent := 200 + len(sessions)*(*flagReps)*(*flagMessages)
	if int(total) != sent || int(accepted) != sent || logged != sent {
		t.Errorf("%s: %d messages sent, but the daemon counted %.0f (%.0f accepted) and logged %d with all checks passing",
			s.name, sent, total, accepted, logged)
	}
	checkDelivered(t, s.mta)
}
