package milter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// manyProtected is configuration for 1,000 more protected domains with
// 100 protected people among them: pronounceable names under several
// suffixes, the same for every run, none resembling the benchmark's
// partner.
func manyProtected() string {
	r := rand.New(rand.NewPCG(3, 5))
	syllables := strings.Fields("ba be bi bo bu ca co da de di do fa fe fi ga go ha he ka ke ko la le li lo lu ma me mi mo na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi za zo")
	suffixes := []string{"com", "org", "net", "de", "co.uk", "test"}
	firsts := strings.Fields("Jane John Maria Ahmed Wei Olga Pierre Fatima Kenji Lucia")
	lasts := strings.Fields("Doe Smith Garcia Khan Zhang Ivanova Martin Haddad Tanaka Rossi")
	var b strings.Builder
	for i := range 1000 {
		var name strings.Builder
		for range 2 + r.IntN(3) {
			name.WriteString(syllables[r.IntN(len(syllables))])
		}
		fmt.Fprintf(&b, "[[domain]]\nname = \"%s%d.%s\"\n", name.String(), i, suffixes[r.IntN(len(suffixes))])
		if i < 100 {
			fmt.Fprintf(&b, "people = [%q]\n", firsts[i%10]+" "+lasts[i/10])
		}
	}
	return b.String()
}

// BenchmarkMessage4KBManyProtected is BenchmarkMessage4KB with 1,000
// protected domains and 100 protected people configured: the display-name
// and lookalike rules look the partner's names up in their index, so the
// CPU per message must stay within a few percent of the plain benchmark.
func BenchmarkMessage4KBManyProtected(b *testing.B) { benchmarkMessages(b, 4<<10, manyProtected()) }
