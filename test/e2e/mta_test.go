//go:build e2e

package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
	"github.com/spoofguard/spoofguard/test/sendmail"
)

// mta is what the scenarios need of the MTA in front of the daemon;
// *postfix.Instance and *sendmail.Instance both are one.
type mta interface {
	Send(t testing.TB, m postfix.Mail) postfix.Result
	WaitDelivered(t testing.TB, messageID string, timeout time.Duration) *postfix.Delivered
	FindDelivered(t testing.TB, messageID string) *postfix.Delivered
	// WaitQuarantined returns the header of a message the milter put in
	// the MTA's quarantine (Postfix: the hold queue; Sendmail: an hf
	// queue file).
	WaitQuarantined(t testing.TB, messageID string, timeout time.Duration) *postfix.Delivered
}

// startMTA starts Postfix or Sendmail for example.org with the milter at
// listen ("": none); its host name is our authserv-id. Sendmail gets the
// INPUT_MAIL_FILTER flags and timeouts of examples/sendmail.
func startMTA(t *testing.T, useSendmail bool, listen string) mta {
	t.Helper()
	if useSendmail {
		return sendmail.Start(t, sendmail.Config{
			Hostname: authservID,
			Domains:  []string{"example.org"},
			Milters:  exampleMilters(t, listen),
		})
	}
	var milters []string
	if listen != "" {
		milters = []string{listen}
	}
	return postfix.Start(t, postfix.Config{
		Hostname: authservID,
		Domains:  []string{"example.org"},
		Milters:  milters,
	})
}

// exampleMilters is the shipped example's milter at listen, or none.
func exampleMilters(t *testing.T, listen string) []sendmail.Milter {
	if listen == "" {
		return nil
	}
	m, err := sendmail.ExampleMilter()
	if err != nil {
		t.Fatal(err)
	}
	m.Socket = listen
	return []sendmail.Milter{m}
}

// socketParent is where a unix: milter socket goes. Sendmail refuses a
// socket with a world-writable directory on its path ("unsafe: World
// writable directory"), such as /tmp, so for Sendmail it goes under
// /run, as a packaged daemon's socket (/run/spoofguard) does.
func socketParent(t *testing.T, o worldOptions, dir string) string {
	t.Helper()
	if !o.unix || !o.sendmail {
		return dir
	}
	run, err := os.MkdirTemp("/run", "spoofguard-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	return run
}
