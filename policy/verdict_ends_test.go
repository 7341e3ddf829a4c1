package policy

import "testing"

// One answer to "does this end the transaction", used by the engine, the
// daemon and check alike.
func TestVerdictEndsTransaction(t *testing.T) {
	test := func(a Action, reportOnly, want bool) {
		t.Helper()
		v := Verdict{Action: a, ReportOnly: reportOnly}
		if got := v.EndsTransaction(); got != want {
			t.Errorf("%s (report-only %v): EndsTransaction = %v, want %v", a, reportOnly, got, want)
		}
	}
	test(ActionReject, false, true)
	test(ActionTempFail, false, true)
	test(ActionQuarantine, false, false)
	test(ActionAccept, false, false)
	test(ActionReject, true, false)
	test(ActionTempFail, true, false)
}
