package postfix

import "time"

// WaitBanner waits until an SMTP server on addr (host:port) greets with
// 220; harnesses of other MTAs (test/sendmail) use it too.
func WaitBanner(addr string, timeout time.Duration) error { return waitBanner(addr, timeout) }

// Poll calls done every 20 ms until it reports true or timeout passes,
// and tells which happened.
func Poll(timeout time.Duration, done func() bool) bool { return poll(timeout, done) }
