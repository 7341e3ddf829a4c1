package received

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// when builds an expected date; zone is the offset in hours.
func when(y int, m time.Month, d, hh, mm, ss int, zone float64) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.FixedZone("", int(zone*3600)))
}

var ip = netip.MustParseAddr

// sameHop compares two hops; dates are compared as instants and offsets,
// since time.Time values from different *Location pointers are not ==.
func sameHop(got, want Hop) bool {
	_, gotOff := got.Date.Zone()
	_, wantOff := want.Date.Zone()
	if !got.Date.Equal(want.Date) || gotOff != wantOff {
		return false
	}
	got.Date, want.Date = time.Time{}, time.Time{}
	return got == want
}

// samples are Received headers modelled on what each MTA writes, one row
// per shape, each with the full Hop expected.
var samples = []struct {
	name string
	in   string
	want Hop
}{
	// Postfix (smtpd.c): from helo (name [addr]), comments for TLS and AUTH.
	{"postfix/esmtps", "from helo.example.net (host.example.net [192.0.2.1])\r\n" +
		"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n" +
		"\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n" +
		"\t(No client certificate requested)\r\n" +
		"\tby mx.example.org (Postfix) with ESMTPS id 4WyZ2k3qLbz9sWn\r\n" +
		"\tfor <user@example.org>; Tue,  3 Sep 2024 10:00:00 +0200 (CEST)",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org",
			With: "ESMTPS", ID: "4WyZ2k3qLbz9sWn", For: "user@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"postfix/unknown-rdns-leading-space", " from mail.example.com (unknown [192.0.2.1]) by mx.example.org (Postfix) with ESMTP id 7BACDC372; Tue, 3 Sep 2024 10:00:00 +0200 (CEST)",
		Hop{Helo: "mail.example.com", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "7BACDC372",
			Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"postfix/ipv6", "from mail.example.com (mail.example.com [IPv6:2001:db8::25])\n\tby mx.example.org (Postfix) with ESMTPS id 4X0Ab12Cd3z1;\n\tWed, 04 Sep 2024 23:59:59 -0000",
		Hop{Helo: "mail.example.com", Host: "mail.example.com", IP: ip("2001:db8::25"), By: "mx.example.org",
			With: "ESMTPS", ID: "4X0Ab12Cd3z1", Date: when(2024, 9, 4, 23, 59, 59, 0)}},
	{"postfix/esmtpsa", "from [192.168.1.20] (dsl-198-51-100-7.example.net [198.51.100.7])\r\n" +
		"\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)\r\n" +
		"\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n" +
		"\t(No client certificate requested)\r\n" +
		"\t(Authenticated sender: alice@example.org)\r\n" +
		"\tby smtp.example.org (Postfix) with ESMTPSA id 4Xa1b2C3d4z1xyz\r\n" +
		"\tfor <bob@example.net>; Tue, 3 Sep 2024 10:00:00 +0200 (CEST)",
		Hop{Helo: "[192.168.1.20]", Host: "dsl-198-51-100-7.example.net", IP: ip("198.51.100.7"), By: "smtp.example.org",
			With: "ESMTPSA", ID: "4Xa1b2C3d4z1xyz", For: "bob@example.net", Date: when(2024, 9, 3, 10, 0, 0, 2), Authenticated: true}},
	{"postfix/auth-note-only", "from laptop (unknown [198.51.100.7]) (Authenticated sender: alice) by smtp.example.org (Postfix) with ESMTP id 4Xa1b2C3d4z2; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "laptop", IP: ip("198.51.100.7"), By: "smtp.example.org", With: "ESMTP", ID: "4Xa1b2C3d4z2",
			Date: when(2024, 9, 3, 10, 0, 0, 2), Authenticated: true}},

	// Exim (default received_header_text): from $sender_rcvhost.
	{"exim/esmtps", "from host.example.net ([192.0.2.1] helo=helo.example.net)\n" +
		"\tby mx.example.org with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\n" +
		"\t(Exim 4.96)\n\t(envelope-from <alice@example.net>)\n\tid 1rXyzA-000abc-2Q\n" +
		"\tfor bob@example.org; Tue, 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org",
			With: "esmtps", ID: "1rXyzA-000abc-2Q", For: "bob@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"exim/literal-port-helo", "from [192.0.2.1] (port=52344 helo=foo)\n\tby mx.example.org with esmtp (Exim 4.96)\n" +
		"\t(envelope-from <a@example.net>)\n\tid 1rXyzB-000abd-0A\n\tfor b@example.org; Tue, 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "foo", IP: ip("192.0.2.1"), By: "mx.example.org", With: "esmtp", ID: "1rXyzB-000abd-0A",
			For: "b@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"exim/helo-equals-host", "from helo.example ([192.0.2.1])\n\tby mx.example.org with esmtp (Exim 4.96)\n" +
		"\t(envelope-from <a@helo.example>)\n\tid 1rXyzC-000abe-1B; Tue, 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example", Host: "helo.example", IP: ip("192.0.2.1"), By: "mx.example.org", With: "esmtp",
			ID: "1rXyzC-000abe-1B", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"exim/esmtpsa-ipv6-untagged", "from [2001:db8:1502::b9a3] (helo=laptop)\n\tby smtp.example.org with esmtpsa (TLS1.3) tls TLS_AES_256_GCM_SHA384\n" +
		"\t(Exim 4.96) (envelope-from <alice@example.org>)\n\tid 1uUBbS-003Crc-1o; Tue, 24 Jun 2025 21:54:53 +0000",
		Hop{Helo: "laptop", IP: ip("2001:db8:1502::b9a3"), By: "smtp.example.org", With: "esmtpsa",
			ID: "1uUBbS-003Crc-1o", Date: when(2025, 6, 24, 21, 54, 53, 0), Authenticated: true}},
	{"exim/port-and-literal-helo", "from host.example.net ([192.0.2.1]:52344 helo=[192.168.1.2]) by mx.example.org with esmtp (Exim 4.97)\n" +
		"\t(envelope-from <>) id 1sABCD-0001xy-3Z for postmaster@example.org; Tue, 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "[192.168.1.2]", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "esmtp",
			ID: "1sABCD-0001xy-3Z", For: "postmaster@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"exim/authenticated-sender-note", "from host.example.net ([198.51.100.7] helo=laptop)\n\t(Authenticated sender: alice@example.org)\n" +
		"\tby smtp.example.org with esmtp (Exim 4.96) (envelope-from <alice@example.org>) id 1sABCE-0001xz-4A; Tue, 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "laptop", Host: "host.example.net", IP: ip("198.51.100.7"), By: "smtp.example.org", With: "esmtp",
			ID: "1sABCE-0001xz-4A", Date: when(2024, 9, 3, 10, 0, 0, 2), Authenticated: true}},
	{"exim/quoted-sender-with-paren", "from host.example.net ([192.0.2.1] helo=h.example.net) by mx.example.org with esmtp (Exim 4.96)\n" +
		"\t(envelope-from <\"a)b\"@example.net>) id 1sABCF-0001y0-5B for c@example.org; Tue, 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "h.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "esmtp",
			ID: "1sABCF-0001y0-5B", For: "c@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},

	// Sendmail (cf/m4/proto.m4): from $s ($_) with $_ = "[ident@]name [addr]".
	{"sendmail/esmtp", "from helo.example.net (host.example.net [192.0.2.1])\n\tby mx.example.org (8.17.1/8.17.1) with ESMTP id 483ABCDE012345\n" +
		"\tfor <user@example.org>; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org",
			With: "ESMTP", ID: "483ABCDE012345", For: "user@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"sendmail/may-be-forged", "from helo.example.net (host.example.com [192.0.2.1] (may be forged))\n\tby mx.example.org (8.17.1/8.17.1) with ESMTP id 483ABCDE012346; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.com", IP: ip("192.0.2.1"), By: "mx.example.org",
			With: "ESMTP", ID: "483ABCDE012346", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"sendmail/no-rdns", "from helo.example.net ([192.0.2.1])\n\tby mx.example.org (8.17.1/8.17.1) with ESMTP id 483ABCDE012347; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "483ABCDE012347",
			Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"sendmail/authenticated-bits", "from laptop.example.org (dsl-198-51-100-7.example.net [198.51.100.7])\n\t(authenticated bits=0)\n" +
		"\tby smtp.example.org (8.17.1/8.17.1) with ESMTPSA id 483AUTH0012345\n\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NO)\n" +
		"\tfor <bob@example.net>; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "laptop.example.org", Host: "dsl-198-51-100-7.example.net", IP: ip("198.51.100.7"), By: "smtp.example.org",
			With: "ESMTPSA", ID: "483AUTH0012345", For: "bob@example.net", Date: when(2024, 9, 3, 10, 0, 0, 2), Authenticated: true}},
	{"sendmail/authenticated-note-only", "from laptop ([198.51.100.7]) (authenticated bits=0) by smtp.example.org (8.12.11/8.12.11) with ESMTP id i8FJcSRZ007847; Wed, 15 Sep 2004 21:38:31 +0200",
		Hop{Helo: "laptop", IP: ip("198.51.100.7"), By: "smtp.example.org", With: "ESMTP", ID: "i8FJcSRZ007847",
			Date: when(2004, 9, 15, 21, 38, 31, 2), Authenticated: true}},
	{"sendmail/no-helo", "(from host.example.net [192.0.2.1])\n\tby mx.example.org (8.17.1/8.17.1) with SMTP id 483NOHELO12345; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "SMTP", ID: "483NOHELO12345",
			Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"sendmail/no-helo-spaced", "( from host.example.net [192.0.2.1] ) by mx.example.org with SMTP id 1",
		Hop{Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "SMTP", ID: "1"}},
	{"sendmail/ident", "from helo.example.net (fred@host.example.net [192.0.2.1]) by mx.example.org (8.17.1/8.17.1) with ESMTP id 483IDENT012345; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP",
			ID: "483IDENT012345", Date: when(2024, 9, 3, 10, 0, 0, 2)}},

	// Microsoft Exchange and Exchange Online: the address in parentheses, unbracketed.
	{"exchange/internal", "from EXCH01.corp.example (10.0.0.5) by EXCH02.corp.example (10.0.0.6) with Microsoft SMTP Server\r\n" +
		" (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.2.1258.12;\r\n Tue, 3 Sep 2024 08:00:00 +0000",
		Hop{Helo: "EXCH01.corp.example", IP: ip("10.0.0.5"), By: "EXCH02.corp.example", With: "Microsoft SMTP Server",
			ID: "15.2.1258.12", Date: when(2024, 9, 3, 8, 0, 0, 0)}},
	{"exchange/plain", "from mail.example.net (192.0.2.1) by\n EXCH01.corp.example (10.0.0.5) with Microsoft SMTP Server id\n 14.3.123.3; Sat, 6 Jun 2015 05:34:59 +0200",
		Hop{Helo: "mail.example.net", IP: ip("192.0.2.1"), By: "EXCH01.corp.example", With: "Microsoft SMTP Server",
			ID: "14.3.123.3", Date: when(2015, 6, 6, 5, 34, 59, 2)}},
	{"exchange/folded-protocol", "from mail.example.net (192.0.2.1) by EXCH01.corp.example (10.0.0.5) with Microsoft\r\n SMTP\tServer id 15.1.2507.39; Tue, 3 Sep 2024 08:00:00 +0000",
		Hop{Helo: "mail.example.net", IP: ip("192.0.2.1"), By: "EXCH01.corp.example", With: "Microsoft SMTP Server",
			ID: "15.1.2507.39", Date: when(2024, 9, 3, 8, 0, 0, 0)}},
	{"eop/frontend", "from mail.example.net (192.0.2.1) by\r\n BN8NAM12FT012.mail.protection.outlook.com (10.13.182.123) with Microsoft SMTP\r\n" +
		" Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.7918.13 via\r\n Frontend Transport; Tue, 3 Sep 2024 08:00:00 +0000",
		Hop{Helo: "mail.example.net", IP: ip("192.0.2.1"), By: "BN8NAM12FT012.mail.protection.outlook.com",
			With: "Microsoft SMTP Server", ID: "15.20.7918.13", Date: when(2024, 9, 3, 8, 0, 0, 0)}},
	{"eop/ipv6-internal", "from BN8PR12MB1234.namprd12.prod.outlook.com (2603:10b6:408:e7::16)\r\n by SN6PR12MB5678.namprd12.prod.outlook.com (2603:10b6:805:6f::23) with\r\n" +
		" Microsoft SMTP Server (version=TLS1_2,\r\n cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7918.24; Tue, 3 Sep\r\n 2024 08:00:01 +0000",
		Hop{Helo: "BN8PR12MB1234.namprd12.prod.outlook.com", IP: ip("2603:10b6:408:e7::16"), By: "SN6PR12MB5678.namprd12.prod.outlook.com",
			With: "Microsoft SMTP Server", ID: "15.20.7918.24", Date: when(2024, 9, 3, 8, 0, 1, 0)}},
	{"microsoft/smtpsvc", "from inet-vrs-05.example.com ([192.0.2.157]) by INET-IMC-05.example.com with Microsoft SMTPSVC(5.0.2195.6624); Thu, 6 Mar 2003 12:02:35 -0800",
		Hop{Helo: "inet-vrs-05.example.com", IP: ip("192.0.2.157"), By: "INET-IMC-05.example.com", With: "Microsoft SMTPSVC",
			Date: when(2003, 3, 6, 12, 2, 35, -8)}},

	// Filtering services.
	{"proofpoint/inbound-from-outlook", "from NAM12-BN8-obe.outbound.protection.outlook.com (mail-bn8nam12on2100.outbound.protection.outlook.com [40.107.237.100])\n" +
		"\tby mx0a-00123456.pphosted.com (PPS) with ESMTPS id 41bj5b8r2u-1\n\t(version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256 verify=NOT)\n" +
		"\tfor <user@example.org>; Tue, 03 Sep 2024 10:00:00 -0700 (PDT)",
		Hop{Helo: "NAM12-BN8-obe.outbound.protection.outlook.com", Host: "mail-bn8nam12on2100.outbound.protection.outlook.com",
			IP: ip("40.107.237.100"), By: "mx0a-00123456.pphosted.com", With: "ESMTPS", ID: "41bj5b8r2u-1",
			For: "user@example.org", Date: when(2024, 9, 3, 10, 0, 0, -7)}},
	{"proofpoint/pps-filterd", "from pps.filterd (mx0a-00123456.pphosted.com [127.0.0.1])\n\tby mx0a-00123456.pphosted.com (8.18.1.2/8.18.1.2) with ESMTP id 483AbCdE012345;\n\tTue, 3 Sep 2024 10:00:01 -0700",
		Hop{Helo: "pps.filterd", Host: "mx0a-00123456.pphosted.com", IP: ip("127.0.0.1"), By: "mx0a-00123456.pphosted.com",
			With: "ESMTP", ID: "483AbCdE012345", Date: when(2024, 9, 3, 10, 0, 1, -7)}},
	{"proofpoint/no-rdns", "from mail.example.net ([192.0.2.68])\n\tby mx0b-00123456.pphosted.com (PPS) with ESMTPS id 3ymkqhsu8t-1\n" +
		"\t(version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256 verify=NOT);\n\tMon, 10 Jun 2024 10:31:26 -0500 (CDT)",
		Hop{Helo: "mail.example.net", IP: ip("192.0.2.68"), By: "mx0b-00123456.pphosted.com", With: "ESMTPS", ID: "3ymkqhsu8t-1",
			Date: when(2024, 6, 10, 10, 31, 26, -5)}},
	{"mimecast/starttls", "from mail-dm6nam11on2101.outbound.protection.outlook.com\r\n (mail-dm6nam11on2101.outbound.protection.outlook.com [40.107.223.101]) by\r\n" +
		" relay.mimecast.com with ESMTP with STARTTLS\r\n (version=TLSv1.2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id\r\n" +
		" us-mta-447-0ZmNxh3uNy2EGJsQwmu79w-1; Tue, 03 Sep 2024 04:00:00 -0400",
		Hop{Helo: "mail-dm6nam11on2101.outbound.protection.outlook.com", Host: "mail-dm6nam11on2101.outbound.protection.outlook.com",
			IP: ip("40.107.223.101"), By: "relay.mimecast.com", With: "ESMTP", ID: "us-mta-447-0ZmNxh3uNy2EGJsQwmu79w-1",
			Date: when(2024, 9, 3, 4, 0, 0, -4)}},
	{"mimecast/using-tls", "from mail.example.net (mail.example.net\r\n [192.0.2.1]) (Using TLS) by relay.mimecast.com with ESMTP id\r\n eu-mta-12-AbCdEfGhIjKlMnOpQrStUv-1; Tue, 03 Sep 2024 10:00:00 +0100",
		Hop{Helo: "mail.example.net", Host: "mail.example.net", IP: ip("192.0.2.1"), By: "relay.mimecast.com", With: "ESMTP",
			ID: "eu-mta-12-AbCdEfGhIjKlMnOpQrStUv-1", Date: when(2024, 9, 3, 10, 0, 0, 1)}},
	{"google/smtps", "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n" +
		"        by mx.google.com with SMTPS id a640c23a62f3a-a8a5c3e6c15sor1234567866b.5.2024.09.03.01.02.03\r\n" +
		"        for <user@example.org>\r\n        (Google Transport Security);\r\n        Tue, 03 Sep 2024 01:02:03 -0700 (PDT)",
		Hop{Helo: "mail-sor-f41.google.com", Host: "mail-sor-f41.google.com", IP: ip("209.85.220.41"), By: "mx.google.com",
			With: "SMTPS", ID: "a640c23a62f3a-a8a5c3e6c15sor1234567866b.5.2024.09.03.01.02.03", For: "user@example.org",
			Date: when(2024, 9, 3, 1, 2, 3, -7)}},
	{"barracuda/ess", "from mail.example.net (mail.example.net [192.0.2.1]) by mx1.us.ess.barracudanetworks.com with ESMTP id AbCdEfGh12345678\n" +
		" (version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256 verify=NO) for <user@example.org>; Tue, 03 Sep 2024 08:00:00 +0000",
		Hop{Helo: "mail.example.net", Host: "mail.example.net", IP: ip("192.0.2.1"), By: "mx1.us.ess.barracudanetworks.com",
			With: "ESMTP", ID: "AbCdEfGh12345678", For: "user@example.org", Date: when(2024, 9, 3, 8, 0, 0, 0)}},
	{"cisco/ironport", "from host.example.net (HELO helo.example.net) ([192.0.2.1])\r\n  by esa1.example.iphmx.com with ESMTP/TLS/ECDHE-RSA-AES256-GCM-SHA384; 03 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "esa1.example.iphmx.com",
			With: "ESMTP/TLS/ECDHE-RSA-AES256-GCM-SHA384", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"momentum/ehlo-note", "from unknown [192.0.2.1] (EHLO helo.example.net)\n\tby dispatch1-us1.ppe-hosted.com\n" +
		"\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\n\twith ESMTP id b-022.p01c11m003.ppe-hosted.com\n" +
		"\t(envelope-from <a@example.net>);\n\tMon, 02 Feb 2009 19:28:27 -0700 (MST)",
		Hop{Helo: "helo.example.net", IP: ip("192.0.2.1"), By: "dispatch1-us1.ppe-hosted.com", With: "ESMTP",
			ID: "b-022.p01c11m003.ppe-hosted.com", Date: when(2009, 2, 2, 19, 28, 27, -7)}},
	{"momentum/literal-with-port", "from ([192.0.2.205:50387] helo=i6.example.com) by m12.example.net (ecelerity 2.1.1.3 r(11743)) with ESMTP id 80/0A-02454-4DCB6054 for <user@example.org>; Tue, 12 Sep 2006 09:57:40 -0400",
		Hop{Helo: "i6.example.com", IP: ip("192.0.2.205"), By: "m12.example.net", With: "ESMTP", ID: "80/0A-02454-4DCB6054",
			For: "user@example.org", Date: when(2006, 9, 12, 9, 57, 40, -4)}},

	// qmail: from remotehost (HELO helo) (remoteinfo@remoteip).
	{"qmail/unknown", "from unknown (HELO helo.example) (192.0.2.1)\n  by mail.example.org with SMTP; 3 Sep 2024 08:00:00 -0000",
		Hop{Helo: "helo.example", IP: ip("192.0.2.1"), By: "mail.example.org", With: "SMTP", Date: when(2024, 9, 3, 8, 0, 0, 0)}},
	{"qmail/ident-tls", "from host.example.net (HELO helo.example) (fred@192.0.2.1) by mail.example.org with (DHE-RSA-AES256-SHA encrypted) SMTP; 3 Sep 2024 08:00:00 -0000",
		Hop{Helo: "helo.example", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mail.example.org", With: "SMTP",
			Date: when(2024, 9, 3, 8, 0, 0, 0)}},
	{"qmail/esmtpa", "from host.example.net (192.0.2.1) by mail.example.org with ESMTPA; 3 Sep 2024 08:00:00 -0000",
		Hop{Helo: "host.example.net", IP: ip("192.0.2.1"), By: "mail.example.org", With: "ESMTPA",
			Date: when(2024, 9, 3, 8, 0, 0, 0), Authenticated: true}},

	// Others.
	{"plain/literal", "from [192.0.2.1] by mx.example.org with SMTP; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{IP: ip("192.0.2.1"), By: "mx.example.org", With: "SMTP", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"communigate/account", "from [198.51.100.7] (account alice@example.org HELO [10.10.10.10])\n  by mail.example.org (CommuniGate Pro SMTP 6.3.0)\n" +
		"  with ESMTPSA id 88402416 for bob@example.net; Mon, 04 Dec 2006 13:15:07 -0800",
		Hop{Helo: "[10.10.10.10]", IP: ip("198.51.100.7"), By: "mail.example.org", With: "ESMTPSA", ID: "88402416",
			For: "bob@example.net", Date: when(2006, 12, 4, 13, 15, 7, -8), Authenticated: true}},
	{"haraka/space-in-literal", "from ipex1.example.edu (ipex1.example.edu [192.0.2.141 ])\n by mta25.example.net (Haraka/2.8.28) with ESMTPS id\n" +
		" 7B470838-3340-40DB-A8FE-0C227796FEF3.1\n envelope-from <a@example.edu>\n (version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 verify=OK);\n Wed, 14 Aug 2013 07:59:30 -0500",
		Hop{Helo: "ipex1.example.edu", Host: "ipex1.example.edu", IP: ip("192.0.2.141"), By: "mta25.example.net", With: "ESMTPS",
			ID: "7B470838-3340-40DB-A8FE-0C227796FEF3.1", Date: when(2013, 8, 14, 7, 59, 30, -5)}},
	{"dovecot/lmtp", "from mx.example.org ([192.0.2.10])\n\tby mailstore.example.org with LMTP\n\tid 2Fq1Nw3b1mbTXgAA0J78UA\n" +
		"\t(envelope-from <a@example.net>)\n\tfor <bob@example.org>; Tue, 03 Sep 2024 10:00:02 +0200",
		Hop{Helo: "mx.example.org", IP: ip("192.0.2.10"), By: "mailstore.example.org", With: "LMTP", ID: "2Fq1Nw3b1mbTXgAA0J78UA",
			For: "bob@example.org", Date: when(2024, 9, 3, 10, 0, 2, 2)}},
	{"fetchmail/bare-literal", "from localhost [127.0.0.1] by localhost with IMAP (fetchmail-6.4.37) for <alice@localhost> (single-drop); Tue, 03 Sep 2024 10:00:00 +0200 (CEST)",
		Hop{Helo: "localhost", IP: ip("127.0.0.1"), By: "localhost", With: "IMAP", For: "alice@localhost", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"ipv6-tagged-mapped", "from h ([IPv6:::ffff:192.0.2.1]) by mx.example.org with ESMTP",
		Hop{Helo: "h", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP"}},
	{"ipv4-mapped", "from cs.example.fi ([::ffff:198.51.100.141]) by mail.example.fi with esmtp; Mon, 18 Aug 2003 15:37:48 +0300",
		Hop{Helo: "cs.example.fi", IP: ip("198.51.100.141"), By: "mail.example.fi", With: "esmtp", Date: when(2003, 8, 18, 15, 37, 48, 3)}},

	// Syntax: nesting, quoting, case, folding, missing parts.
	{"syntax/nested-comments-quoted-for-uppercase", "FROM helo.example.net (host.example.net [192.0.2.1] (a (deeply) nested \\) comment))\r\n" +
		" BY mx.example.org WITH ESMTP ID abc FOR \"john doe\"@example.org; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP",
			ID: "abc", For: "\"john doe\"@example.org", Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"syntax/no-date", "from helo.example.net (host.example.net [192.0.2.1]) by mx.example.org (Postfix) with ESMTP id 4Xyz",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "4Xyz"}},
	{"syntax/unreadable-date", "from helo.example.net (host.example.net [192.0.2.1]) by mx.example.org with ESMTP id 4Xyz; yesterday at noon",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "4Xyz"}},
	{"syntax/tabs-and-lf", "from\thelo.example.net\n\t(host.example.net\t[192.0.2.1])\n\tby\tmx.example.org\n\twith\tESMTP\n\tid\t4Xyz;\n\tTue,\t3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "helo.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "4Xyz",
			Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"syntax/semicolon-in-comment", "from h.example.net (host.example.net [192.0.2.1]) (note; not the date) by mx.example.org with ESMTP id 1; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "h.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "1",
			Date: when(2024, 9, 3, 10, 0, 0, 2)}},
	{"syntax/utf8-comment", "from h.example.net (host.example.net [192.0.2.1]) (Grüße) by mx.example.org with UTF8SMTPSA id 1; Tue, 3 Sep 2024 10:00:00 +0200",
		Hop{Helo: "h.example.net", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "UTF8SMTPSA", ID: "1",
			Date: when(2024, 9, 3, 10, 0, 0, 2), Authenticated: true}},

	// Which address is the client's when there are two.
	{"choice/tcp-info-over-literal-helo", "from [203.0.113.66] (host.example.net [192.0.2.1]) by mx.example.org with ESMTP id 1",
		Hop{Helo: "[203.0.113.66]", Host: "host.example.net", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "1"}},
	{"choice/literal-helo-in-by-part-ignored", "from h (unknown [192.0.2.1]) by mx.example.org ([203.0.113.66]) with ESMTP id 1",
		Hop{Helo: "h", IP: ip("192.0.2.1"), By: "mx.example.org", With: "ESMTP", ID: "1"}},
}

func TestParse(t *testing.T) {
	for _, tc := range samples {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !sameHop(got, tc.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// badSamples name no usable client: each is an error with a reason, never
// a partial Hop.
var badSamples = []struct {
	name string
	in   string
	want error
}{
	{"empty", "", ErrNoFrom},
	{"blank", " \r\n\t ", ErrNoFrom},
	{"only-by", "by mx.example.org (Postfix, from userid 1000) id 4Xyz; Tue, 3 Sep 2024 10:00:00 +0200", ErrNoFrom},
	{"qmail-invoked", "(qmail 12345 invoked by uid 89); 3 Sep 2024 08:00:00 -0000", ErrNoFrom},
	{"comment-only", "(nothing here)", ErrNoFrom},
	{"semicolon-only", ";", ErrNoFrom},
	{"sendmail-local", "(from root@localhost) by host.example.org (8.17.1/8.17.1/Submit) id 483ABC; Tue, 3 Sep 2024 10:00:00 +0200", ErrNoIP},
	{"helo-only", "from helo.example.net by mx.example.org with SMTP; Tue, 3 Sep 2024 10:00:00 +0200", ErrNoIP},
	{"bare-ip-helo", "from 192.0.2.1 by mx.example.org with SMTP", ErrNoIP},
	{"from-nothing", "from", ErrNoIP},
	{"from-by", "from by mx.example.org", ErrNoIP},
	{"exim-no-addr", "from user (helo=foo) by mx.example.org with local (Exim 4.96) id 1", ErrNoIP},
	{"address-only-after-tcp-info", "from h (using TLS) [192.0.2.1] by mx.example.org", ErrNoIP},
	{"address-in-by-part-only", "from h by mx.example.org ([192.0.2.1]) with ESMTP", ErrNoIP},
	{"bad-ipv4-literal", "from helo.example.net (host.example.net [999.1.1.1]) by mx.example.org", ErrBadIP},
	{"bad-domain-literal", "from [999.1.1.1] by mx.example.org", ErrBadIP},
	{"bad-top-level-literal", "from unknown [192.0.2] (EHLO x) by mx.example.org", ErrBadIP},
	{"general-literal", "from h (host [x400:whatever]) by mx.example.org", ErrBadIP},
	{"zone", "from h (host [fe80::1%eth0]) by mx.example.org", ErrBadIP},
	{"ipv6-tag-on-ipv4", "from h (host [IPv6:192.0.2.1]) by mx.example.org", ErrBadIP},
	{"unspecified-ipv4", "from h (host [0.0.0.0]) by mx.example.org", ErrBadIP},
	{"unspecified-ipv6", "from h (host [IPv6:::]) by mx.example.org", ErrBadIP},
	{"multicast", "from h (224.0.0.1) by mx.example.org", ErrBadIP},
	{"mapped-unspecified", "from h ([::ffff:0.0.0.0]) by mx.example.org", ErrBadIP},
	{"bad-bare-ipv4", "from EXCH01 (10.0.0.256) by EXCH02", ErrBadIP},
	{"bad-bare-ipv6", "from EXCH01 (2603:10b6:::1) by EXCH02", ErrBadIP},
	{"bad-ident-ip", "from unknown (HELO x) (fred@192.0.2.999) by mail.example.org with SMTP", ErrBadIP},
	{"bad-beside-good", "from h ([999.1.1.1]) ([192.0.2.1]) by mx.example.org", ErrAmbiguous},
	{"bad-beside-good-in-comment", "from h (host [999.1.1.1] [192.0.2.1]) by mx.example.org", ErrAmbiguous},
	{"two-tcp-infos", "from helo.example.net (host.example.net [192.0.2.1]) ([203.0.113.66]) by mx.example.org with ESMTP id 1", ErrAmbiguous},
	{"two-addresses-in-tcp-info", "from h (host.example.net [192.0.2.1] [203.0.113.66]) by mx.example.org with ESMTP id 1", ErrAmbiguous},
	{"empty-literal", "from h (host []) by mx.example.org", ErrBadIP},
	{"no-by", "from h.example.net (host.example.net [192.0.2.1]); Tue, 3 Sep 2024 10:00:00 +0200", ErrMalformed},
	{"unterminated-comment", "from h (host [192.0.2.1] by mx.example.org", ErrMalformed},
	{"unterminated-nested-comment", "from h (host [192.0.2.1] (may be forged) by mx.example.org", ErrMalformed},
	{"unterminated-literal-in-comment", "from h (host [192.0.2.1) by mx.example.org", ErrMalformed},
	{"unterminated-literal", "from [192.0.2.1 by mx.example.org", ErrMalformed},
	{"unterminated-angle", "from h (host [192.0.2.1]) by mx.example.org for <a@b; date", ErrMalformed},
	{"unterminated-quote", "from h (host [192.0.2.1]) by mx.example.org for \"abc", ErrMalformed},
	{"unterminated-date-comment", "from h (host [192.0.2.1]) by mx.example.org; Tue, 3 Sep 2024 10:00:00 +0200 (CEST", ErrMalformed},
	{"stray-paren", "from h) (host [192.0.2.1]) by mx.example.org", ErrMalformed},
	{"stray-bracket", "from h (host [192.0.2.1]) by mx.example.org] with ESMTP", ErrMalformed},
	{"nul", "from h (host [192.0.2.1])\x00 by mx.example.org", ErrMalformed},
	{"control", "from h (host [192.0.2.1]) by mx\x1b.example.org", ErrMalformed},
	{"del", "from h (host [192.0.2.1]) by mx\x7f.example.org", ErrMalformed},
	{"invalid-utf8", "from h\xff (host [192.0.2.1]) by mx.example.org", ErrMalformed},
	{"truncated-utf8", "from h (host [192.0.2.1]) by mx.example.org (Gr\xc3", ErrMalformed},
	{"too-long", "from h (host [192.0.2.1]) by mx.example.org (" + strings.Repeat("x", MaxLength) + ")", ErrTooLong},
	{"200k-garbage", strings.Repeat("(((<[\"\\ ", 25<<10), ErrTooLong},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badSamples {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%.60q) error = %v, want %v", tc.in, err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(tc.in) {
				t.Errorf("error %#v is not an *Error with an offset inside the value", err)
			}
			if got != (Hop{}) {
				t.Errorf("Parse returned %+v with the error", got)
			}
		})
	}
}

func TestHopString(t *testing.T) {
	test := func(h Hop, want string) {
		t.Helper()
		if got := h.String(); got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
	}
	test(Hop{}, "")
	test(Hop{IP: ip("2001:db8::1"), Helo: "[192.0.2.9]"}, "ip=2001:db8::1 helo=[192.0.2.9]")
	test(Hop{IP: ip("192.0.2.1"), Helo: "h", Host: "host.example", By: "mx", With: "Microsoft SMTP Server",
		ID: "1", For: `"john doe"@example.org`, Date: when(2024, 9, 3, 10, 0, 0, 2), Authenticated: true},
		`ip=192.0.2.1 helo=h host=host.example by=mx with="Microsoft SMTP Server" id=1 for="\"john doe\"@example.org" date=2024-09-03T10:00:00+02:00 auth=yes`)
	test(Hop{IP: ip("192.0.2.1"), Helo: "a=b"}, `ip=192.0.2.1 helo="a=b"`)
}

// Folding a header must not change its protocol name. A Unicode space
// (U+0085, U+00A0) is part of a word to the scanner, so it stays part
// of With whether or not the value has folds to undo (a fuzz find: the
// folded value once lost it to strings.Fields).
func TestOneSpaced(t *testing.T) {
	for in, want := range map[string]string{
		"ESMTPS":                       "ESMTPS",
		"Microsoft SMTP Server":        "Microsoft SMTP Server",
		"Microsoft\r\n SMTP  Server":   "Microsoft SMTP Server",
		"\u0085 0":                     "\u0085 0",
		"\u0085\r\n 0":                 "\u0085 0",
		"ESMTP\u00a0A\t\tx":            "ESMTP\u00a0A x",
		"  leading\r\n\r\n trailing  ": "leading trailing",
	} {
		if got := oneSpaced(in); got != want {
			t.Errorf("oneSpaced(%q) = %q, want %q", in, got, want)
		}
	}
	h, err := Parse("from ([0.1.0.0]) by x with \u0085\r\n 0")
	if err != nil || h.With != "\u0085 0" {
		t.Errorf("folded With: %q, %v", h.With, err)
	}
}
