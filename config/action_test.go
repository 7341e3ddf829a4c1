package config

import "testing"

// The order the engine and `check` both rank verdicts by, and which
// actions end the transaction.
func TestActionSeverity(t *testing.T) {
	order := []Action{ActionAccept, ActionQuarantine, ActionTempFail, ActionReject}
	for i := 1; i < len(order); i++ {
		if order[i].Severity() <= order[i-1].Severity() {
			t.Errorf("%s (%d) does not outrank %s (%d)", order[i], order[i].Severity(), order[i-1], order[i-1].Severity())
		}
	}
	if got := Action("bogus").Severity(); got != ActionAccept.Severity() {
		t.Errorf("an unknown action ranks %d, want accept's %d", got, ActionAccept.Severity())
	}
	for a, want := range map[Action]bool{ActionAccept: false, ActionQuarantine: false, ActionTempFail: true, ActionReject: true} {
		if a.Refuses() != want {
			t.Errorf("%s.Refuses() = %v, want %v", a, a.Refuses(), want)
		}
	}
}
