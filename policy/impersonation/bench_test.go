package impersonation

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchProtected makes n pronounceable protected domains under a few
// suffixes and people protected people spread over them, the same for
// every run.
func benchProtected(n, people int) []Protected {
	r := rand.New(rand.NewPCG(7, 11))
	syllables := strings.Fields("ba be bi bo bu ca co da de di do fa fe fi ga go ha he ka ke ko la le li lo lu ma me mi mo na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi za zo")
	suffixes := []string{"com", "org", "net", "de", "co.uk", "example"}
	firsts := strings.Fields("Jane John Maria Ahmed Wei Olga Pierre Fatima Kenji Lucia")
	lasts := strings.Fields("Doe Smith Garcia Khan Zhang Ivanova Martin Haddad Tanaka Rossi")
	out := make([]Protected, n)
	for i := range out {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		out[i].Domain = fmt.Sprintf("%s%d.%s", b.String(), i, suffixes[r.IntN(len(suffixes))])
	}
	for i := range people {
		out[i%n].People = append(out[i%n].People, firsts[i%10]+" "+lasts[i/10%10])
	}
	return out
}

// BenchmarkNew: building the index for 1,000 domains and 100 people
// (once per configuration load).
func BenchmarkNew(b *testing.B) {
	ps := benchProtected(1000, 100)
	for b.Loop() {
		New(ps)
	}
}

// BenchmarkLookalike: one sender domain against 1,000 protected domains;
// a stranger (the common case), and a lookalike.
func BenchmarkLookalike(b *testing.B) {
	ps := benchProtected(1000, 100)
	ix := New(ps)
	lookalike := strings.Replace(ps[500].Domain, "a", "а", 1)
	for _, d := range []string{"partner.example", "mail.bigcorporation-newsletters.example", lookalike} {
		b.Run(d, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Lookalike(d)
			}
		})
	}
}

// BenchmarkDisplay: a From display name against 1,000 domains and 100
// people.
func BenchmarkDisplay(b *testing.B) {
	ix := New(benchProtected(1000, 100))
	for _, text := range []string{"Alice", "Alice Example (Partner Newsletter)", "Jane Doe, CEO"} {
		b.Run(text, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Display(text, true)
			}
		})
	}
}

// BenchmarkParseMailboxes: a typical From header.
func BenchmarkParseMailboxes(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseMailboxes(`"Alice Example" <alice@partner.example>`)
	}
}
