package explain_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/policy/explain"
)

// A message saved from a mailbox behind the filter: the facts come from
// its own headers, the verdict from the engine.
func ExampleCheck() {
	srv, err := dnstest.Start("127.0.0.1:0", `
example.org.     IN TXT "v=spf1 ip4:203.0.113.10 -all"
spammer.example. IN TXT "v=spf1 ip4:192.0.2.66 -all"
`)
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	cfg, err := config.ParseConfig("example.toml", []byte(`
[dns]
servers = ["`+srv.Addr+`"]
[[relay]]
name = "filter"
networks = ["198.51.100.0/24"]
[[domain]]
name = "example.org"
via = "filter"
`))
	if err != nil {
		panic(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers})
	if err != nil {
		panic(err)
	}
	e := policy.NewEngine(context.Background(), cfg, res, policy.Options{NoRefresh: true})
	defer e.Close()

	msg := `Return-Path: <bounce@spammer.example>
X-Original-To: user@example.org
Received: from filter.example.org (filter.example.org [198.51.100.5])
	by backend.example.org (Postfix) with ESMTPS id 4Wq7Lk0Gz1z9sQ; Mon, 1 Jan 2024 10:00:02 +0000
Received: from spam.spammer.example (spam.spammer.example [192.0.2.66])
	by filter.example.org (Postfix) with ESMTP id 4Wq7Lj6Yk4z4x2; Mon, 1 Jan 2024 10:00:01 +0000
From: CEO <ceo@example.org>
To: user@example.org
Subject: Urgent

Please wire the money.
`
	r, err := explain.Check(context.Background(), e, strings.NewReader(msg), explain.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Path.Kind, r.Path.Relay, "from", r.Path.OriginalClient.IP)
	fmt.Println(r.Verdict, r.Rule, "at", r.Stage)
	fmt.Println(r.Reply)
	// Output:
	// relayed filter from 192.0.2.66
	// reject header-forgery at end-of-headers
	// 550 5.7.1 message claims to be from protected domain example.org but is not authenticated
}
