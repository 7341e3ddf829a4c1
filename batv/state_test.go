package batv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "batv.state")
	s, err := OpenState(path)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys([][]byte{keyA}, nil)
	if s.Judging(k, day0) || !s.Since(k).IsZero() {
		t.Fatalf("a fresh state judges")
	}
	s.Signed(k, day0)
	s.Signed(k, days(3)) // only the first signing counts
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[int]bool{0: false, 6: false, 7: true, 30: true} {
		if got := s.Judging(k, days(d)); got != want {
			t.Errorf("day %d: judging %v, want %v", d, got, want)
		}
	}
	// The start survives a restart, and a rotation keeps it: the old key
	// still verifies, the new one has not signed yet.
	again, err := OpenState(path)
	if err != nil || !again.Since(k).Equal(day0) {
		t.Fatalf("reopened: since %v, %v", again.Since(k), err)
	}
	rotated := NewKeys([][]byte{keyB, keyA}, nil)
	if !again.Judging(rotated, days(8)) {
		t.Errorf("rotation restarted the window")
	}
	again.Signed(rotated, days(8))
	if fresh := NewKeys([][]byte{keyB}, nil); again.Judging(fresh, days(9)) || !again.Judging(fresh, days(15)) {
		t.Errorf("the new key alone: window from its own first signing expected")
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), string(keyA)) || strings.Count(string(raw), "\n") != 3 {
		t.Errorf("state file:\n%s", raw)
	}
}

func TestStateFileProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.state")
	os.WriteFile(bad, []byte("abc not-a-time\n"), 0o600)
	if _, err := OpenState(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad line: %v", err)
	}
	// A state directory that cannot be written: signing goes on, the
	// window is kept in memory and the failure is reported.
	s, err := OpenState(filepath.Join(dir, "missing", "batv.state"))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys([][]byte{keyA}, nil)
	s.Signed(k, day0)
	if s.Err() == nil || !s.Since(k).Equal(day0) {
		t.Errorf("unwritable: err %v since %v", s.Err(), s.Since(k))
	}
	mem, _ := OpenState("")
	mem.Signed(k, day0)
	if mem.Err() != nil || !mem.Judging(k, days(7)) {
		t.Errorf("in-memory state: %v", mem.Err())
	}
}
