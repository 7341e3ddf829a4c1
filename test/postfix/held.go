package postfix

import (
	"testing"
	"time"
)

// WaitQuarantined waits until the message with the given Message-ID is
// on hold because a milter quarantined it (the hold queue, and
// "milter-hold" in the log), and returns its header as queued.
func (p *Instance) WaitQuarantined(t testing.TB, messageID string, timeout time.Duration) *Delivered {
	t.Helper()
	e := p.WaitHeld(t, messageID, timeout)
	p.WaitLog(t, 5*time.Second, e.QueueID, "milter-hold")
	h, err := p.QueuedHeader(e.QueueID)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
