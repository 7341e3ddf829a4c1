package milter

import (
	"path/filepath"
	"testing"
)

// BenchmarkMessage4KBStore is BenchmarkMessage4KB with the sender's
// domain protected and every decision recorded in the embedded store:
// what recording costs a message (compare cpu-µs/msg with
// BenchmarkMessage4KBProtected, the same without the store).
func BenchmarkMessage4KBStore(b *testing.B) {
	benchmarkMessages(b, 4<<10, "\n[[domain]]\nname = \"partner.example\"\nenvelope_forgery = \"accept\"\n[store]\npath = \""+filepath.Join(b.TempDir(), "s.db")+"\"\n")
}

// BenchmarkMessage4KBProtected: the sender's domain protected, no store.
func BenchmarkMessage4KBProtected(b *testing.B) {
	benchmarkMessages(b, 4<<10, "\n[[domain]]\nname = \"partner.example\"\nenvelope_forgery = \"accept\"\n[store]\nenabled = false\n")
}
