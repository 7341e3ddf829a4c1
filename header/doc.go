// Package header reads the syntax of header fields (RFC 5322, RFC 6532,
// RFC 2047) and nothing else: it does no DNS and knows no policy. The
// authentication methods in dnsauth and the rules in policy both need to
// know who a message claims to come from, and they must read it the same
// way, so the parsing lives here, below both of them.
//
// It is one top-level package for all header syntax rather than one per
// field: the fields share their lexical rules (CFWS, atoms, quoted strings,
// encoded words), and a parser for another field (the Received trace) sits
// beside the From parser with the same guarantees: linear time in the size
// of the value, no panics on any input, and a result with a reason rather
// than an error when the value is broken.
package header
