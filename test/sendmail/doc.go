// Package sendmail is the harness for running spoofguard behind a real
// Sendmail on one machine, as package test/postfix does for Postfix; the
// end-to-end suite (test/e2e) drives both.
//
// Debian's sendmail-bin cannot be installed beside Postfix (both are the
// system MTA), so install.sh unpacks its packages into a private tree
// (Root) and the harness runs the binary from there. Each test starts a
// private instance (Start) with its own sendmail.cf, built with the m4
// macros of sendmail-cf from templates/sendmail.mc.tmpl, its own queue
// folder, and one Maildir per domain it is given, written by a small
// program mailer. Sendmail listens on a free port of 127.0.0.1 and
// relays for those domains only.
//
// Sendmail never reaches the real DNS: it runs in a mount namespace of
// its own (unshare) where /etc/hosts, /etc/nsswitch.conf and
// /etc/resolv.conf are the instance's files — host names come from the
// hosts file only, and the resolver would ask 127.0.0.1, where nothing
// answers. The peer of each SMTP session is therefore unresolved, as a
// client without reverse DNS: "[127.0.0.66]".
//
// What Sendmail did is read back from where it puts it: the SMTP replies
// swaks saw (test/postfix's Send), the Maildir, the queue folder (a
// quarantined message stays there as an hf file whose q line holds the
// reason; Instance.WaitQuarantined, Instance.Mailq) and the SMTP traffic
// log (sendmail -X), which is written to the test log when a test fails.
package sendmail
