// Package e2e is spoofguard's end-to-end suite: the spoofguard binary, a
// real Postfix, a real Sendmail and swaks on one machine, with DNS from an
// in-process server. Each test asserts what the MTA really did with a
// message — delivered it (with our Authentication-Results and verdict
// headers), refused it (the SMTP reply and the stage), or put it in its
// quarantine (Postfix's hold queue, Sendmail's hf queue files).
//
// The tests carry the build tag e2e and need root, Postfix, swaks and the
// unpacked Sendmail:
//
//	make e2e    # test/e2e/install.sh, test/sendmail/install.sh, then go test -tags e2e ./test/e2e/...
//
// The machinery (private Postfix instances, swaks, the daemon, test
// messages) lives in package test/postfix, private Sendmail instances in
// test/sendmail; the Sendmail tests are named TestSendmail*, and
// forEachMTA runs a test behind each MTA. The cast, all on 127.0.0.0/8:
//
//	127.0.0.1   Postfix's mynetworks and spoofguard's trusted network only
//	127.0.0.10  example.org's own outbound server (networks.outbound)
//	127.0.0.20  the inbound filtering relay "filter" (example.org's MX)
//	127.0.0.30  mail.partner.example, a partner signing with DKIM
//	127.0.0.66  a spammer on the Internet (spammer.example)
package e2e
