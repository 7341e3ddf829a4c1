package policy

import (
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// One answer to "does this end the transaction", used by the engine, the
// daemon and check alike.
func TestVerdictEndsTransaction(t *testing.T) {
	test := func(a config.Action, reportOnly, want bool) {
		t.Helper()
		v := Verdict{Action: a, ReportOnly: reportOnly}
		if got := v.EndsTransaction(); got != want {
			t.Errorf("%s (report-only %v): EndsTransaction = %v, want %v", a, reportOnly, got, want)
		}
	}
	test(config.ActionReject, false, true)
	test(config.ActionTempFail, false, true)
	test(config.ActionQuarantine, false, false)
	test(config.ActionAccept, false, false)
	test(config.ActionReject, true, false)
	test(config.ActionTempFail, true, false)
}
