#!/usr/bin/python3
"""Makes chain.eml and keys.txt: a message sealed at two relays by dkimpy
(Debian python3-dkim), an implementation independent of spoofguard's.

Run here with /usr/bin/python3 seal.py; it writes new keys each time, so
commit chain.eml and keys.txt together. The private keys are not kept.
"""
import base64
import subprocess

import dkim


def newkey():
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def seal(msg, selector, domain, key, srv_id, results, headers):
    msg = b"Authentication-Results: " + srv_id + b"; " + results + b"\r\n" + msg
    lines = dkim.arc_sign(msg, selector, domain, key, srv_id, include_headers=headers,
                          timestamp=1767261600)
    return b"".join(lines) + msg


msg = (b"Received: from mail.example.org (mail.example.org [192.0.2.25])\r\n"
       b"\tby lists.example.org; Thu, 1 Jan 2026 10:00:00 +0000\r\n"
       b"From: Alice <alice@example.org>\r\nTo: team@lists.example.org\r\n"
       b"Subject: quarterly figures\r\nDate: Thu, 1 Jan 2026 10:00:00 +0000\r\n"
       b"Message-ID: <a1@example.org>\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
       b"The figures are attached;  please check them\r\nbefore Friday.\r\n\r\n")
k1, r1 = newkey()
k2, r2 = newkey()
msg = seal(msg, b"arc1", b"lists.example.org", k1, b"lists.example.org",
           b"spf=pass smtp.mailfrom=example.org;\r\n\tdkim=pass header.d=example.org header.i=@example.org",
           [b"from", b"to", b"subject", b"date", b"message-id"])
# The list tags the subject and adds a footer; the filter then seals with
# dkimpy's default header list.
msg = msg.replace(b"Subject: quarterly", b"Subject: [team] quarterly") + b"-- \r\nteam list\r\n"
msg = seal(msg, b"arc2026", b"filter.example.net", k2, b"mx.filter.example.net",
           b"arc=pass;\r\n\tdkim=fail header.d=example.org;\r\n\tspf=pass smtp.mailfrom=lists.example.org",
           None)
records = {b"arc1._domainkey.lists.example.org.": r1, b"arc2026._domainkey.filter.example.net.": r2}
res = dkim.arc_verify(msg, dnsfunc=lambda name, timeout=5: records[name].encode())
assert res[0] == b"pass", res
open("chain.eml", "wb").write(msg)
with open("keys.txt", "w") as f:
    for name, rec in records.items():
        f.write(name.decode() + " " + rec + "\n")
print(res[0], res[2])
