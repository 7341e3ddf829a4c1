package milter

import (
	"sync/atomic"

	gomilter "github.com/d--j/go-milter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spoofguard/spoofguard/batv"
	"github.com/spoofguard/spoofguard/policy"
)

// batvEvents name the BATV counters: envelope senders signed, tagged
// bounce recipients by verification result, and bounces refused as
// backscatter (tagged or not).
var batvEvents = [...]string{"signed", "valid", "invalid", "expired", "refused"}

var descBATV = prometheus.NewDesc("spoofguard_batv_total",
	"BATV: envelope senders signed, bounce tags found valid, invalid or expired, and bounces refused as backscatter.",
	[]string{"event"}, nil)

// batvCounters count the events in batvEvents' order.
type batvCounters [len(batvEvents)]atomic.Uint64

const (
	batvSigned = iota
	batvValid
	batvInvalid
	batvExpired
	batvRefused
)

func (c *batvCounters) collect(ch chan<- prometheus.Metric) {
	for i, name := range batvEvents {
		ch <- prometheus.MustNewConstMetric(descBATV, prometheus.CounterValue, float64(c[i].Load()), name)
	}
}

// count adds what one transaction did: its tag checks and whether the
// rule refused it.
func (c *batvCounters) count(msg *policy.Message) {
	for _, tc := range msg.TagChecks() {
		switch tc.Result.Status {
		case batv.Valid:
			c[batvValid].Add(1)
		case batv.Expired:
			c[batvExpired].Add(1)
		case batv.BadTag:
			c[batvInvalid].Add(1)
		}
	}
	for _, o := range msg.Outcomes {
		if o.Rule == policy.RuleBackscatter && o.Verdict != nil && o.Verdict.EndsTransaction() {
			c[batvRefused].Add(1)
			return
		}
	}
}

// changeSender replaces the envelope sender with its BATV-tagged form
// (SMFIR_CHGFROM; the action is negotiated at connect). The engine
// records the first signing of each key only once the MTA has the new
// sender.
func (s *session) changeSender(m gomilter.Modifier) {
	signed := s.msg.SignedSender()
	if signed == "" {
		return
	}
	// go-milter adds the angle brackets; no ESMTP arguments are given.
	if err := m.ChangeFrom(signed, ""); err != nil {
		s.rt.log.Warn("BATV: changing the envelope sender failed", "queue", s.queue, "err", err)
		return
	}
	s.msg.MarkSigned()
	s.d.metrics.batv[batvSigned].Add(1)
}

// nonSMTP recognises mail Postfix's cleanup passes to non_smtpd_milters
// (the sendmail command, via pickup): it makes up a connection from
// "localhost" at 127.0.0.1 port 0, which no SMTP client can have — a TCP
// connection never comes from port 0.
func nonSMTP(host, family string, port uint16) bool {
	return port == 0 && family == "tcp4" && host == "localhost"
}
