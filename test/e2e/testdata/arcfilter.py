#!/usr/bin/python3
"""The filtering stage of the ARC tests, built on dkimpy (python3-dkim).

    arcfilter.py seal --key K --domain D --selector S --srv-id ID --results R [--tag T]
        reads a message (CRLF) on stdin as the filter received it, writes its
        own Authentication-Results ("ID; R") on top, modifies the message the
        way filtering services do (T before the subject, a footer after the
        body), seals it with an ARC set of instance N+1 (dkimpy's arc_sign)
        and writes it to stdout.
    arcfilter.py sign --key K --domain D --selector S
        DKIM-signs the message on stdin (From, To, Subject, Date, Message-ID).
    arcfilter.py pipe --key K --domain D --selector S --srv-id ID --results-file F
            --reinject HOST:PORT [--source ADDR] SENDER RECIPIENT...
        a Postfix content filter (master.cf pipe): seals as "seal" does, with
        the results read from F, and hands the message back to Postfix over
        SMTP (from ADDR). Exit status 75 (EX_TEMPFAIL) when that fails.

K is a PEM private key file. Nothing here is spoofguard's code: the tests
need a sealer that spoofguard did not write.
"""
import argparse
import smtplib
import sys

import dkim

SIGNED = [b"From", b"To", b"Subject", b"Date", b"Message-ID"]


def split(msg):
    head, sep, body = msg.partition(b"\r\n\r\n")
    if not sep:
        sys.exit("arcfilter: no empty line after the header block")
    return head + b"\r\n", body


def modify(msg, tag):
    head, body = split(msg)
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(b"subject:"):
            lines[i] = b"Subject: " + tag + b" " + line[len(b"subject:"):].lstrip()
            break
    footer = b"-- \r\nThis message was scanned by the filter.\r\n"
    return b"\r\n".join(lines) + b"\r\n" + body + footer


def seal(args, msg, key):
    msg = b"Authentication-Results: " + args.srv_id.encode() + b";\r\n\t" + args.results.encode() + b"\r\n" + msg
    msg = modify(msg, args.tag.encode())
    arc_set = dkim.arc_sign(msg, args.selector.encode(), args.domain.encode(), key,
                            args.srv_id.encode(), include_headers=SIGNED)
    if not arc_set:
        sys.exit("arcfilter: dkimpy made no ARC set")
    return b"".join(arc_set) + msg


def sign(args, msg, key):
    sig = dkim.sign(msg, args.selector.encode(), args.domain.encode(), key, include_headers=SIGNED)
    return sig + msg


def reinject(args, msg):
    host, port = args.reinject.rsplit(":", 1)
    try:
        with smtplib.SMTP(host, int(port), source_address=(args.source, 0)) as smtp:
            smtp.sendmail(args.sender, args.recipients, msg)
    except (OSError, smtplib.SMTPException) as e:
        sys.stderr.write("arcfilter: reinjection failed: %s\n" % e)
        sys.exit(75)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["seal", "sign", "pipe"])
    p.add_argument("--key", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--selector", required=True)
    p.add_argument("--srv-id", default="")
    p.add_argument("--results", default="")
    p.add_argument("--tag", default="[EXT]")
    p.add_argument("--results-file")
    p.add_argument("--reinject")
    p.add_argument("--source", default="127.0.0.1")
    p.add_argument("sender", nargs="?")
    p.add_argument("recipients", nargs="*")
    args = p.parse_intermixed_args()
    if args.results_file:
        with open(args.results_file) as f:
            args.results = f.read().strip()
    with open(args.key, "rb") as f:
        key = f.read()
    msg = sys.stdin.buffer.read()
    if args.mode == "sign":
        sys.stdout.buffer.write(sign(args, msg, key))
        return
    # Postfix's pipe hands over LF line ends; the signatures are computed
    # on the message as it travels, with CRLF.
    if args.mode == "pipe":
        msg = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    out = seal(args, msg, key)
    if args.mode == "pipe":
        reinject(args, out)
    else:
        sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
