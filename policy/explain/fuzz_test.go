package explain

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzGather feeds arbitrary messages to the header reader and the fact
// gathering: whatever the input, they must end with facts or an error,
// keep the bytes they read intact for the engine, and never panic.
func FuzzGather(f *testing.F) {
	f.Add([]byte("Return-Path: <a@b.example>\nX-Original-To: u@example.org\n" + postfixTop + "From: x@y\n\nbody\n"))
	f.Add([]byte("Received: from x ([192.0.2.1] helo=y) by z with esmtpsa (Exim 4.96) id 1\r\nReturn-Path: <>\r\nTo: a@b, c@d\r\n\r\n"))
	f.Add([]byte("Received: from EXCH01.corp.example (10.0.0.5) by EXCH02 (10.0.0.6) with Microsoft SMTP Server id 15.1.2507.39\nReturn-Path:\nDelivered-To: <>\nCc: \"q@\" <a@b>\n"))
	f.Add([]byte(" stray\n:\nX\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, whole, err := readFields(bytes.NewReader(msg))
		if err != nil {
			return
		}
		if again, _ := io.ReadAll(whole); !bytes.Equal(again, msg) {
			t.Fatalf("the message is handed on as %q", again)
		}
		for _, fl := range fields {
			if fl.name == "" || strings.ContainsAny(fl.name, ": \t\r\n") {
				t.Fatalf("bad field name %q", fl.name)
			}
		}
		tx, in, err := gather(fields, Options{})
		if err != nil {
			return
		}
		if !tx.Client.IP.IsValid() || len(tx.Rcpts) == 0 || len(in.Rcpts) != len(tx.Rcpts) {
			t.Fatalf("facts without a client or recipient: %+v", tx)
		}
	})
}
