#!/bin/sh
# Makes the ARC fixtures of policy/arcrelay_test.go with dkimpy (Debian
# python3-dkim and python3-authres), through the filter stage of the
# end-to-end suite: test/e2e/testdata/arcfilter.py. A new key is made
# each run; its DNS record goes into key.txt (the TXT strings as a zone
# file writes them).
#
#   once.eml   the deep relay's filter sealed it (i=1, deep.example.net)
#   outer.eml  sealed first by elsewhere.example, then by deep.example.net (i=2)
#   inner.eml  sealed first by deep.example.net, then by elsewhere.example (i=2)
#   three.eml  sealed twice by elsewhere.example, then by deep.example.net
#              (i=3): milter's BenchmarkMessageARC3
#   partner.eml  from alice@partner.example (DMARC p=quarantine), signed
#              by partner.example (selector fx), sealed by deep.example.net
#
# All were DKIM-signed by example.org (selector fx) before the filter
# tagged the subject and added a footer, which broke that signature.
set -eu
cd "$(dirname "$0")"
filter=../../../test/e2e/testdata/arcfilter.py
key=$(mktemp)
trap 'rm -f "$key"' EXIT
openssl genrsa -traditional -out "$key" 2048 2>/dev/null
# The record as master-file text, in strings of at most 255 bytes.
printf 'v=DKIM1; k=rsa; p=%s' "$(openssl rsa -in "$key" -pubout -outform DER 2>/dev/null | base64 -w0)" |
	fold -w 200 | sed 's/.*/"&"/' | tr '\n' ' ' > key.txt

received() { # client-helo client-ip by
	printf 'Received: from %s (%s [%s])\r\n\tby %s (Postfix) with ESMTPS id 4ABC123\r\n\tfor <user@edge.example>; Mon, 1 Jan 2024 10:00:01 +0000\r\n' "$1" "$1" "$2" "$3"
}
seal() { # domain srv-id results
	/usr/bin/python3 "$filter" seal --key "$key" --domain "$1" --selector arc --srv-id "$2" --results "$3"
}
printf 'From: CEO <ceo@example.org>\r\nTo: user@edge.example\r\nSubject: quarterly report\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <arc1@saas.example>\r\n\r\nHello.\r\n' |
	/usr/bin/python3 "$filter" sign --key "$key" --domain example.org --selector fx > signed.tmp
saas='dkim=pass header.d=example.org header.s=fx; spf=pass smtp.mailfrom=bounce@saas.example'

{ received mail.saas.example 192.0.2.77 mx1.deep.example.net; cat signed.tmp; } |
	seal deep.example.net mx.deep.example.net "$saas" > once.eml
{ received mail.saas.example 192.0.2.77 mx.elsewhere.example; cat signed.tmp; } |
	seal elsewhere.example mx.elsewhere.example "$saas" > first.tmp
{ received mx.elsewhere.example 192.0.2.88 mx1.deep.example.net; cat first.tmp; } |
	seal deep.example.net mx.deep.example.net 'arc=pass; dkim=fail header.d=example.org' > outer.eml
{ received mx1.deep.example.net 198.51.105.1 mx.elsewhere.example; cat once.eml; } |
	seal elsewhere.example mx.elsewhere.example 'arc=pass; dkim=fail header.d=example.org' > inner.eml
{ received mx.elsewhere.example 192.0.2.88 mx2.elsewhere.example; cat first.tmp; } |
	seal elsewhere.example mx.elsewhere.example "arc=pass; $saas" > second.tmp
{ received mx2.elsewhere.example 192.0.2.89 mx1.deep.example.net; cat second.tmp; } |
	seal deep.example.net mx.deep.example.net "arc=pass; $saas" > three.eml
printf 'From: alice@partner.example\r\nTo: user@edge.example\r\nSubject: invoice\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <arc2@partner.example>\r\n\r\nHello.\r\n' |
	/usr/bin/python3 "$filter" sign --key "$key" --domain partner.example --selector fx |
	{ received mail.partner.example 192.0.2.31 mx1.deep.example.net; cat; } |
	seal deep.example.net mx.deep.example.net 'dkim=pass header.d=partner.example header.s=fx' > partner.eml
rm -f signed.tmp first.tmp second.tmp
