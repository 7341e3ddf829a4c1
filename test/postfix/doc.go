// Package postfix is the harness for running spoofguard against a real
// Postfix on one machine. The end-to-end suite (test/e2e) and the load
// suite build on it; it has no knowledge of spoofguard's rules.
//
// A test starts a private Postfix instance (Start) with its own
// configuration, queue and data directories in a temporary folder,
// listening on a free port of 127.0.0.1 and delivering the domains it is
// given into one Maildir each. Only 127.0.0.1 is in mynetworks, so every
// other loopback address is an Internet client: swaks (Send) binds such an
// address to play the spammer, the partner or the filtering relay. Postfix
// never consults the real DNS (no peer-name lookups, no outbound delivery).
//
// The milter under test is a separately built spoofguard binary (Build,
// StartDaemon) talking to the in-process DNS server of package dnstest.
// What Postfix really did is read back from where Postfix puts it: the
// SMTP replies swaks saw (Result), the Maildir (Instance.WaitDelivered),
// the hold queue (Instance.WaitHeld, via postqueue -j) and the mail log.
//
// Everything started is stopped by t.Cleanup, also when a test fails; the
// logs of Postfix and of the daemon are then written to the test log.
package postfix
