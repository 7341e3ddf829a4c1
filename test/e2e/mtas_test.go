//go:build e2e

package e2e

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// forEachMTA runs test once behind Postfix and once behind Sendmail.
func forEachMTA(t *testing.T, test func(t *testing.T, useSendmail bool)) {
	for _, useSendmail := range []bool{false, true} {
		t.Run(map[bool]string{false: "postfix", true: "sendmail"}[useSendmail], func(t *testing.T) {
			t.Parallel()
			test(t, useSendmail)
		})
	}
}

// TestFromSpaceBeforeColon sends forged own-domain mail through the relay
// whose From field is written `From : "CEO" <ceo@example.org>` (white
// space before the colon, RFC 5322 §4.5.3 obsolete syntax, which both
// MTAs accept as the From field): header-forgery must refuse it as it
// refuses the usual spelling.
func TestFromSpaceBeforeColon(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		w := newWorld(t, worldOptions{mode: "enforce", sendmail: useSendmail})
		s := with(forgedOwnFromRelayed, rejected(postfix.StageEndData, "550 5.7.1"))
		s.from = `"CEO" <ceo@example.org>`
		id := postfix.NewMessageID("spammer.example")
		hop := postfix.Hop{FromHelo: s.origin.helo, FromIP: s.origin.ip, By: relay.helo, For: rcpt}
		data := hop.Relay(spaceBeforeColon(w.message(t, s, id)))
		if !strings.Contains(string(data), "\r\nFrom : \"CEO\" <ceo@example.org>\r\n") {
			t.Fatalf("test message lacks the spelling under test:\n%s", data)
		}
		r := w.mta.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: s.mailFrom, To: []string{rcpt}, Data: data})
		w.expectRejected(t, s, id, r)
	})
}

// TestReloadUnderTraffic sends a stream of partner mail (to be delivered)
// and forgeries (to be refused) through each MTA while the daemon's
// configuration file is rewritten and reloaded with SIGHUP every 200 ms:
// every message must get its own outcome — none tempfailed, lost or
// decided by a half-loaded configuration — and the daemon must live on.
func TestReloadUnderTraffic(t *testing.T) {
	t.Parallel()
	forEachMTA(t, func(t *testing.T, useSendmail bool) {
		w := newWorld(t, worldOptions{mode: "enforce", sendmail: useSendmail})
		stop := make(chan struct{})
		reloads := make(chan int, 1)
		go func() { reloads <- w.reloadEvery(t, 200*time.Millisecond, stop) }()
		var wg sync.WaitGroup
		for c := 0; c < 3; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 6; i++ {
					s := forgedOwnFromRelayed
					if (c+i)%2 == 0 {
						s = partnerRelayed
					}
					w.sendChecked(t, s)
				}
			}()
		}
		wg.Wait()
		close(stop)
		n := <-reloads
		if n < 2 {
			t.Errorf("only %d reloads happened during the traffic; the test proves nothing", n)
		}
		// SIGHUPs that arrive during a reload coalesce into one, so fewer
		// reloads than signals is fine; a refused one is not.
		log := w.daemon.Log()
		if got := strings.Count(log, "configuration reloaded"); got < 2 {
			t.Errorf("daemon logged %d reloads of the %d sent", got, n)
		}
		if strings.Contains(log, "reload refused") {
			t.Error("a reload was refused")
		}
		if !w.daemon.Running() {
			t.Fatal("daemon died")
		}
	})
}

// sendChecked sends one scenario's message through the relay and checks
// its outcome: partner mail delivered with our Authentication-Results,
// the forgery refused at end of data.
func (w *world) sendChecked(t *testing.T, s scenario) {
	id := postfix.NewMessageID(domainOf(s.from))
	hop := postfix.Hop{FromHelo: s.origin.helo, FromIP: s.origin.ip, By: relay.helo, For: rcpt}
	r := w.mta.Send(t, postfix.Mail{Client: relay.ip, Helo: relay.helo, From: s.mailFrom, To: []string{rcpt},
		Data: hop.Relay(w.message(t, s, id))})
	if s.name == partnerRelayed.name {
		if r.Stage() != postfix.StageAccepted {
			t.Errorf("partner mail refused at %s: %q", r.Stage(), r.Reply())
			return
		}
		d := w.mta.WaitDelivered(t, id, 30*time.Second)
		ourAuthResults("dkim=pass header.d=partner.example", "dmarc=pass header.from=partner.example")(t, d)
		return
	}
	if r.Stage() != postfix.StageEndData || !strings.HasPrefix(r.Reply(), "550 5.7.1") {
		t.Errorf("forgery: got %s %q, want refused at end of data with 550 5.7.1", r.Stage(), r.Reply())
	}
}

// reloadEvery rewrites the daemon's configuration (switching the log
// level, so each file differs from the last) and sends SIGHUP at every
// tick until stop is closed; it returns the number of reloads sent.
func (w *world) reloadEvery(t *testing.T, every time.Duration, stop chan struct{}) int {
	orig, err := os.ReadFile(w.config)
	if err != nil {
		t.Error(err)
		return 0
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return n
		case <-tick.C:
		}
		text := string(orig)
		if n%2 == 0 {
			text = strings.Replace(text, `level = "debug"`, `level = "info"`, 1)
		}
		// Replaced by a rename, so a reload never reads half a file.
		tmp := w.config + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Error(err)
			return n
		}
		if err := os.Rename(tmp, w.config); err != nil {
			t.Error(err)
			return n
		}
		if err := w.daemon.Signal(syscall.SIGHUP); err != nil {
			t.Error(err)
			return n
		}
	}
}
