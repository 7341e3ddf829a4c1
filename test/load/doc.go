// Package load is spoofguard's load suite: the spoofguard binary behind a
// real Postfix, driven by Postfix's own load generator smtp-source, with
// DNS from an in-process server. It measures what the milter costs the
// MTA — throughput against Postfix without a milter, the latency added at
// end of data, the daemon's memory — and runs the daemon through reloads,
// DNS outages and a shutdown under load, accounting for every message.
//
// The tests carry the build tag load and need root and Postfix:
//
//	make loadtest             # every measurement, hardening with 20,000 messages
//	make loadtest-hardening   # the hardening run alone with 100,000 messages
//
// Method, figures and the flags that size each run: docs/PERFORMANCE.md.
//
// Every message is DKIM-signed with RSA-2048 by partner.example, whose
// SPF and DMARC pass, and sent from 127.0.0.30, which is neither in
// Postfix's mynetworks nor trusted by spoofguard: SPF, DKIM and DMARC are
// all evaluated for each one. smtp-source cannot choose its source
// address; an LD_PRELOAD shim compiled at the start of the run (cc) binds
// it. The null milter, an accept-all milter of the same protocol shape,
// shows how much of the cost any milter brings to Postfix.
package load
