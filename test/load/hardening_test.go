//go:build load

package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// class is one kind of traffic of the hardening run and what may happen
// to its messages: some outcomes are right, the others are wrong verdicts.
type class struct {
	name     string
	share    int // percent of the messages
	sessions int
	from     string // envelope sender
	rcpt     string // its own mailbox, so deliveries are counted per class
	message  func(t *testing.T, w *world) []byte
	// allowed outcomes besides a temporary failure, which is always right
	// while DNS is down or the daemon is stopping
	delivered, rejected, held bool

	quota  int // messages to send
	sent   int // messages sent so far
	result postfix.SourceResult
	err    error
}

// run sends n more messages of the class and adds up what smtp-source saw.
func (c *class) run(mta *postfix.Instance, shim, file string, n, sessions int) error {
	r, err := mta.RunSource(context.Background(), postfix.Source{Sessions: sessions, Messages: n,
		File: file, From: c.from, To: c.rcpt, Helo: clientHelo, Client: clientIP, Shim: shim})
	c.sent += n
	if err != nil {
		c.err = err
		return err
	}
	c.result.Rejected += r.Rejected
	c.result.TempFailed += r.TempFailed
	if c.result.Refusals == nil {
		c.result.Refusals = map[string]int{}
	}
	for k, v := range r.Refusals {
		c.result.Refusals[k] += v
	}
	return nil
}

func hardeningClasses() []*class {
	return []*class{
		{name: "legit", share: 80, sessions: 16, from: "news@partner.example", rcpt: "legit@example.org",
			message: func(t *testing.T, w *world) []byte { return w.partnerMessage(t, 4<<10) }, delivered: true},
		{name: "forged", share: 10, sessions: 2, from: "ceo@example.org", rcpt: "forged@example.org",
			message: func(t *testing.T, w *world) []byte {
				return postfix.Message{From: "CEO <ceo@example.org>", To: "forged@example.org", Subject: "wire transfer",
					MessageID: postfix.NewMessageID("example.org"), Body: "Please pay the attached invoice today.\n"}.Bytes()
			}, rejected: true},
		{name: "quarantine", share: 10, sessions: 2, from: "bounce@spammer.example", rcpt: "quarantine@example.org",
			message: func(t *testing.T, w *world) []byte {
				return postfix.Message{From: "Bank <alerts@bank.example>", To: "quarantine@example.org", Subject: "verify your account",
					MessageID: postfix.NewMessageID("spammer.example"), Body: "Click here.\n"}.Bytes()
			}, held: true},
	}
}

// TestHardening sends -load.hardening messages of three classes through
// Postfix and spoofguard while the configuration is reloaded every second
// (alternately a good file — every other one with a new DNS cache — and a
// bad one), the DNS server goes down for 2 s every 6 s (records live 2 s,
// so the cache runs dry), and near the end the daemon gets SIGTERM. Every
// message must be accounted for (delivered + rejected + held + tempfailed
// = sent, per class), none may get a wrong verdict — above all, no
// legitimate message a 5xx — each class must get its right verdict for at
// least hardeningFloor of its messages, and the daemon must exit 0 within
// its drain timeout.
func TestHardening(t *testing.T) {
	const drain = 10 * time.Second
	w := newWorld(t, 2)
	d := w.startDaemon(t, "hardening", daemonOptions{drain: drain.String()})
	classes := hardeningClasses()
	var maps []string
	for _, c := range classes {
		maps = append(maps, c.rcpt+"="+c.name+"/")
	}
	mta := startPostfix(t, d.Listen(), "virtual_mailbox_maps = inline:{ "+strings.Join(maps, ", ")+" }")
	total := *flagHardening
	left := total
	for i, c := range classes {
		c.quota = total * c.share / 100
		if i == len(classes)-1 {
			c.quota = left
		}
		left -= c.quota
	}
	start := time.Now()

	// The traffic: the legitimate class in one smtp-source run, the
	// others in small batches paced to keep up with it, so that every
	// class meets the reloads and the outages.
	shim := bindShim(t)
	var decided atomic.Int64 // messages the daemon has decided, while it runs
	var traffic sync.WaitGroup
	for i, c := range classes {
		file := w.sourceFile(t, c.name+".eml", c.message(t, w))
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			if i == 0 {
				c.run(mta, shim, file, c.quota, c.sessions)
				return
			}
			for c.sent < c.quota {
				for float64(c.sent)/float64(c.quota) > float64(decided.Load())/float64(total) && d.Running() {
					time.Sleep(50 * time.Millisecond)
				}
				if c.run(mta, shim, file, min(50, c.quota-c.sent), c.sessions) != nil {
					return
				}
			}
		}()
	}

	// The trouble: reloads and DNS outages until the daemon is stopped.
	ctx, stopChaos := context.WithCancel(context.Background())
	var chaos sync.WaitGroup
	var good, bad, outages atomic.Int64
	chaos.Add(2)
	go func() { defer chaos.Done(); reloadEverySecond(ctx, t, d, &good, &bad) }()
	go func() { defer chaos.Done(); dnsOutages(ctx, w, &outages) }()

	// SIGTERM once 97% of the messages have been decided; the rest meet
	// a daemon that is draining or gone (Postfix tempfails them).
	for {
		m, err := d.scrape()
		if err == nil {
			decided.Store(int64(sum(m, "spoofguard_messages_total")))
		}
		if decided.Load() >= int64(0.97*float64(total)) {
			break
		}
		if time.Since(start) > time.Hour {
			t.Fatal("the run did not reach 97% within an hour")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopChaos()
	chaos.Wait()
	m := waitReloads(t, d, good.Load()+bad.Load())
	took, exited, exitErr := d.Terminate(drain + 5*time.Second)
	traffic.Wait()
	elapsed := time.Since(start)
	if err := mta.WaitSettled(5 * time.Minute); err != nil {
		t.Fatal(err)
	}

	switch {
	case !exited:
		t.Errorf("daemon still running %v after SIGTERM (drain_timeout %v)", took.Round(time.Millisecond), drain)
	case exitErr != nil:
		t.Errorf("daemon exited with %v after SIGTERM, want status 0", exitErr)
	case took > drain+time.Second:
		t.Errorf("daemon took %v to exit after SIGTERM, beyond drain_timeout %v", took.Round(time.Millisecond), drain)
	}
	held := heldBySender(t, mta)
	delivered, err := mta.MaildirCounts()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("\n| class | sent | delivered | rejected (5xx) | held | tempfailed (4xx) |\n|---|---:|---:|---:|---:|---:|\n")
	for _, c := range classes {
		if c.err != nil {
			t.Errorf("%s: %v", c.name, c.err)
			continue
		}
		r := c.result
		got := delivered[c.name] + r.Rejected + held[c.from] + r.TempFailed
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", c.name, c.sent, delivered[c.name], r.Rejected, held[c.from], r.TempFailed)
		if got != c.sent {
			t.Errorf("%s: %d sent but %d delivered + %d rejected + %d held + %d tempfailed = %d",
				c.name, c.sent, delivered[c.name], r.Rejected, held[c.from], r.TempFailed, got)
		}
		wrong := func(what string, n int, ok bool) {
			if n > 0 && !ok {
				t.Errorf("%s: %d messages %s — a wrong verdict; refusals: %v", c.name, n, what, r.Refusals)
			}
		}
		wrong("delivered", delivered[c.name], c.delivered)
		wrong("rejected with 5xx", r.Rejected, c.rejected)
		wrong("held", held[c.from], c.held)
		c.checkFloor(t, delivered[c.name], held[c.from])
	}
	fmt.Fprintf(&b, "\n%d messages in %v (%.0f msgs/s); %d good and %d bad reloads (daemon counted %.0f ok, %.0f refused); %d DNS outages; "+
		"%.0f DNS lookups failed; SIGTERM answered in %v; load average %.2f\n",
		total, elapsed.Round(time.Second), float64(total)/elapsed.Seconds(), good.Load(), bad.Load(),
		sum(m, "spoofguard_config_reloads_total", `result="ok"`), sum(m, "spoofguard_config_reloads_total", `result="failed"`),
		outages.Load(), sum(m, "spoofguard_dns_failures_total"), took.Round(time.Millisecond), loadAvg())
	t.Log(b.String())
	for _, c := range classes {
		if c.err == nil && len(c.result.Refusals) > 0 {
			t.Logf("%s: refusals by reply: %v", c.name, c.result.Refusals)
		}
	}
	if outages.Load() == 0 || sum(m, "spoofguard_dns_failures_total") == 0 {
		t.Errorf("the DNS outages (%d) caused no failed lookups: the run did not test them", outages.Load())
	}
}

// hardeningFloor is the share of each class's messages that must get the
// class's right verdict (delivered, rejected or held), not a temporary
// failure. DNS is down 2 s of every 6 s and the records' 2 s TTL empties
// the cache during each outage, so about a third of the messages meet no
// DNS; another 3% meet the daemon stopping. Outside those, every message
// can be decided: half is a floor with room for the reloads' cold caches,
// and a daemon that tempfails everything, which the accounting alone
// would accept, fails it.
const hardeningFloor = 0.5

// checkFloor fails the class when too few of its messages got a verdict
// other than a temporary failure.
func (c *class) checkFloor(t *testing.T, delivered, held int) {
	t.Helper()
	right := 0
	if c.delivered {
		right += delivered
	}
	if c.rejected {
		right += c.result.Rejected
	}
	if c.held {
		right += held
	}
	if c.sent > 0 && float64(right) < hardeningFloor*float64(c.sent) {
		t.Errorf("%s: only %d of %d messages got their right verdict, below the floor of %.0f%%; %d tempfailed",
			c.name, right, c.sent, 100*hardeningFloor, c.result.TempFailed)
	}
}

// reloadEverySecond replaces the configuration file and sends SIGHUP
// every second: a good file, a bad one, a good one with a different DNS
// cache size (so a new resolver with a cold cache is built), another bad
// one, and so on.
func reloadEverySecond(ctx context.Context, t *testing.T, d *daemon, good, bad *atomic.Int64) {
	files := [][]byte{
		d.render(t, nil),
		[]byte("[milter]\nmode = \"sometimes\"\n"),
		d.render(t, map[string]string{"CacheSize": "20001"}),
		[]byte("[milter\nlisten = \n"),
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tmp := filepath.Join(filepath.Dir(d.config), ".reload.toml")
		if err := os.WriteFile(tmp, files[i%len(files)], 0o644); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(tmp, d.config); err != nil {
			t.Error(err)
			return
		}
		if err := d.Signal(syscall.SIGHUP); err != nil {
			t.Error(err)
			return
		}
		if i%2 == 0 {
			good.Add(1)
		} else {
			bad.Add(1)
		}
	}
}

// dnsOutages stops the DNS server for 2 s every 6 s.
func dnsOutages(ctx context.Context, w *world, outages *atomic.Int64) {
	defer w.dns.Restart()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(4 * time.Second):
		}
		w.dns.Stop()
		outages.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		w.dns.Restart()
	}
}

// waitReloads waits until the daemon has handled every SIGHUP sent and
// returns its metrics then.
func waitReloads(t *testing.T, d *daemon, sent int64) map[string]float64 {
	t.Helper()
	var m map[string]float64
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err = d.scrape()
		if err != nil {
			t.Fatal(err)
		}
		handled := sum(m, "spoofguard_config_reloads_total")
		if int64(handled) == sent {
			return m
		}
		if time.Now().After(deadline) {
			t.Errorf("%d SIGHUPs sent, the daemon handled %.0f", sent, handled)
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heldBySender counts the messages in the hold queue by envelope sender.
func heldBySender(t *testing.T, mta *postfix.Instance) map[string]int {
	t.Helper()
	entries, err := mta.Queue()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range entries {
		if e.QueueName == "hold" {
			out[e.Sender]++
		}
	}
	return out
}
