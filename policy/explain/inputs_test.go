package explain

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const postfixTop = "Received: from filter.example.org (filter.example.org [198.51.100.5])\n" +
	"\tby backend.example.org (Postfix) with ESMTPS id 4Wq7Lk0Gz1z9sQ\n" +
	"\tfor <user@example.org>; Mon, 1 Jan 2024 10:00:02 +0000 (UTC)\n"

func ptr(s string) *string { return &s }

func TestGather(t *testing.T) {
	type want struct {
		ip, helo, mailFrom, auth string
		rcpts                    []string
		sources                  []string // client IP, HELO, MAIL FROM, then each RCPT
	}
	test := func(name, headers string, opts Options, w want) {
		t.Run(name, func(t *testing.T) {
			tx, in, err := gather(fieldsOf(t, headers+"\n"), opts)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Client.IP.String() != w.ip || tx.Client.Helo != w.helo || tx.MailFrom != w.mailFrom ||
				tx.AuthUser != w.auth || !reflect.DeepEqual(tx.Rcpts, w.rcpts) {
				t.Errorf("got ip=%s helo=%q from=%q auth=%q rcpts=%q", tx.Client.IP, tx.Client.Helo, tx.MailFrom, tx.AuthUser, tx.Rcpts)
			}
			sources := []string{in.ClientIP.Source, in.Helo.Source, in.MailFrom.Source}
			for _, r := range in.Rcpts {
				sources = append(sources, r.Source)
			}
			for i, s := range w.sources {
				if i >= len(sources) || !strings.HasPrefix(sources[i], s) {
					t.Errorf("sources %q, want prefixes %q", sources, w.sources)
					break
				}
			}
		})
	}
	test("everything from the headers", "Return-Path: <bounce@spammer.example>\nX-Original-To: user@example.org\nDelivered-To: mailbox@backend.example.org\n"+postfixTop,
		Options{}, want{ip: "198.51.100.5", helo: "filter.example.org", mailFrom: "bounce@spammer.example", rcpts: []string{"user@example.org"},
			sources: []string{"Received header #0", "Received header #0", "Return-Path", "X-Original-To"}})
	test("Delivered-To when there is no X-Original-To", "Return-Path: <a@b.example>\nDelivered-To: <user@example.org>\nDelivered-To: older@example.org\n"+postfixTop,
		Options{}, want{ip: "198.51.100.5", helo: "filter.example.org", mailFrom: "a@b.example", rcpts: []string{"user@example.org"},
			sources: []string{"", "", "", "Delivered-To"}})
	test("To and Cc as the last resort", "Return-Path: <>\n"+postfixTop+"To: One <one@example.org>, two@example.org\nCc: undisclosed-recipients:;\nCc: three@edge.example\n",
		Options{}, want{ip: "198.51.100.5", helo: "filter.example.org", mailFrom: "", rcpts: []string{"one@example.org", "two@example.org", "three@edge.example"},
			sources: []string{"", "", "Return-Path", "To/Cc", "To/Cc", "To/Cc"}})
	test("only the topmost Received counts", "Return-Path: <a@b.example>\nX-Original-To: u@example.org\n"+postfixTop+
		"Received: from spam.example (spam.example [192.0.2.66]) by filter.example.org (Postfix) with ESMTP id 1; Mon, 1 Jan 2024 10:00:01 +0000\n",
		Options{}, want{ip: "198.51.100.5", helo: "filter.example.org", mailFrom: "a@b.example", rcpts: []string{"u@example.org"}})
	test("HELO given, client traced", "Return-Path: <a@b.example>\nX-Original-To: u@example.org\n"+postfixTop,
		Options{Helo: ptr("other.example")}, want{ip: "198.51.100.5", helo: "other.example", mailFrom: "a@b.example", rcpts: []string{"u@example.org"},
			sources: []string{"Received header #0", "--helo"}})
	test("everything given", postfixTop,
		Options{ClientIP: netip.MustParseAddr("::ffff:192.0.2.1"), Helo: ptr("h.example"), MailFrom: ptr("<>"), Rcpts: []string{"<a@example.org>", "b@example.org"}},
		want{ip: "192.0.2.1", helo: "h.example", mailFrom: "", rcpts: []string{"a@example.org", "b@example.org"},
			sources: []string{"--client-ip", "--helo", "--mail-from", "--rcpt", "--rcpt"}})
	test("client given without HELO", "Return-Path: <a@b.example>\nX-Original-To: u@example.org\n",
		Options{ClientIP: netip.MustParseAddr("192.0.2.1")}, want{ip: "192.0.2.1", mailFrom: "a@b.example", rcpts: []string{"u@example.org"},
			sources: []string{"--client-ip", "not given"}})
	test("SMTP AUTH recorded by the receiving MTA", "Return-Path: <alice@example.org>\nX-Original-To: bob@partner.example\n"+
		"Received: from laptop (host.example.net [192.0.2.44]) (Authenticated sender: alice)\n\tby backend.example.org (Postfix) with ESMTPSA id 1; Mon, 1 Jan 2024 10:00:00 +0000\n",
		Options{}, want{ip: "192.0.2.44", helo: "laptop", mailFrom: "alice@example.org", auth: "unknown", rcpts: []string{"bob@partner.example"}})
	test("Exim header on top", "Return-Path: <a@b.example>\nX-Original-To: u@example.org\n"+
		"Received: from host.example.net ([192.0.2.1] helo=helo.example.net)\n\tby backend.example.org with esmtps (Exim 4.96)\n\tid 1rXyzA-000abc-2Q; Mon, 1 Jan 2024 10:00:00 +0000\n",
		Options{}, want{ip: "192.0.2.1", helo: "helo.example.net", mailFrom: "a@b.example", rcpts: []string{"u@example.org"}})
}

func TestGatherErrors(t *testing.T) {
	test := func(name, headers string, opts Options, wantErr string) {
		t.Run(name, func(t *testing.T) {
			_, _, err := gather(fieldsOf(t, headers), opts)
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("err = %v, want %q", err, wantErr)
			}
		})
	}
	test("no Received", "Return-Path: <a@b.example>\nTo: u@example.org\n", Options{}, "no Received header")
	test("unreadable Received", "Received: by backend.example.org (Postfix, from userid 0) id 1; Mon, 1 Jan 2024 10:00:00 +0000\n",
		Options{}, "does not name the connecting client")
	test("no Return-Path", postfixTop+"To: u@example.org\n", Options{}, "no Return-Path")
	test("no recipient", "Return-Path: <a@b.example>\n"+postfixTop+"To: undisclosed-recipients:;\n", Options{}, "names no recipient")
}
