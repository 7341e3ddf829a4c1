package sendmail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

func TestParseInputMailFilter(t *testing.T) {
	m, err := ParseInputMailFilter("INPUT_MAIL_FILTER(`spoofguard', `S=inet:8891@127.0.0.1, F=T, T=C:30s;S:30s;R:30s;E:5m')dnl")
	if err != nil {
		t.Fatal(err)
	}
	if m != (Milter{Name: "spoofguard", Flags: "T", Timeouts: "C:30s;S:30s;R:30s;E:5m"}) {
		t.Errorf("got %+v", m)
	}
	if _, err := ParseInputMailFilter("INPUT_MAIL_FILTER(spoofguard)"); err == nil {
		t.Error("accepted a line without quoted arguments")
	}
	eq, err := Milter{Name: "x", Socket: "unix:/run/spoofguard/milter.sock"}.Equate()
	if err != nil || eq != "S=local:/run/spoofguard/milter.sock, F=T, T=C:30s;S:30s;R:30s;E:5m" {
		t.Errorf("Equate = %q, %v", eq, err)
	}
	if _, err := Socket("tcp:127.0.0.1:1"); err == nil {
		t.Error("Socket accepted an address of unknown kind")
	}
}

// TestManPageMatchesExample keeps the Sendmail line of spoofguard(8) and
// of the README identical to examples/sendmail/spoofguard.mc, whose flags and timeouts
// the end-to-end suite runs Sendmail with.
func TestManPageMatchesExample(t *testing.T) {
	example, err := ExampleLine()
	if err != nil {
		t.Fatal(err)
	}
	root, err := dnstest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	man, err := os.ReadFile(filepath.Join(root, "packaging", "man", "spoofguard.8"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := inputMailFilter.FindString(string(readme)); got != example {
		t.Errorf("README.md shows\n\t%s\nexamples/sendmail/spoofguard.mc has\n\t%s", got, example)
	}
	text := strings.NewReplacer(`\(ga`, "`", `\(aq`, "'", `\-`, "-").Replace(string(man))
	got := inputMailFilter.FindString(text)
	if got != example {
		t.Errorf("spoofguard.8 shows\n\t%s\nexamples/sendmail/spoofguard.mc has\n\t%s", got, example)
	}
}
