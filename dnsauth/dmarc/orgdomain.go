package dmarc

// The organizational domain (RFC 7489 §3.2) is what relaxed DMARC
// alignment compares: mail.example.org and bounce.example.org both belong
// to example.org, while user1.github.io and user2.github.io belong to two
// different owners. RFC 7489 takes it from the Public Suffix List; the
// list compiled into golang.org/x/net/publicsuffix is used here, private
// section included, so hosting suffixes such as github.io count as public
// suffixes. DMARCbis replaces the list by a DNS tree walk (see dmarc.go);
// this file is only the list side.

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/spoofguard/spoofguard/header"
)

// OrgDomain returns the organizational domain of domain (RFC 7489 §3.2):
// the public suffix plus one label. The name is first normalised with
// header.NormalizeDomain (lower case, trailing dot trimmed, U-labels
// turned into A-labels). A name that has no registrable part (a bare public suffix, a
// single label, an IP address, an empty label) is its own organizational
// domain, so it can only ever align with itself.
func OrgDomain(domain string) string {
	name := header.NormalizeDomain(domain)
	if org, ok := orgRegistrable(name); ok {
		return org
	}
	return name
}

// orgRegistrable returns the public suffix plus one label of an already
// normalised name, and false when there is none. publicsuffix keeps case,
// rejects a trailing dot and happily answers for an IP address, so the
// caller normalises and the IP check is done here.
func orgRegistrable(name string) (string, bool) {
	if name == "" || orgIsIP(name) {
		return "", false
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		return "", false
	}
	return org, true
}

// orgIsIP reports whether name is an IP address, bare or as an RFC 5321
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func orgIsIP(name string) bool {
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		return true
	}
	_, err := netip.ParseAddr(name)
	return err == nil
}
