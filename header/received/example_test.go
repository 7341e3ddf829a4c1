package received_test

import (
	"errors"
	"fmt"

	"github.com/spoofguard/spoofguard/header/received"
)

// The relay's Received header names the client that connected to it; that
// client, not the relay, is the one SPF and DMARC are about.
func ExampleParse() {
	hop, err := received.Parse(" from mail.example.net (mail.example.net [192.0.2.1])\r\n" +
		"\tby mx0a-00123456.pphosted.com (PPS) with ESMTPS id 41bj5b8r2u-1\r\n" +
		"\tfor <user@example.org>; Tue, 03 Sep 2024 10:00:00 -0700")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("client:", hop.IP, hop.Host)
	fmt.Println("helo:", hop.Helo)
	fmt.Println("relay:", hop.By, hop.With)
	fmt.Println("at:", hop.Date.UTC())

	// A header without a client address is an error the caller decides on.
	_, err = received.Parse("from mail.example.net by mx.example.org with SMTP")
	fmt.Println(errors.Is(err, received.ErrNoIP), err)
	// Output:
	// client: 192.0.2.1 mail.example.net
	// helo: mail.example.net
	// relay: mx0a-00123456.pphosted.com ESMTPS
	// at: 2024-09-03 17:00:00 +0000 UTC
	// true received: no client IP address at offset 0
}
