package received

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestSharedCorpus parses every distinct Received header in the shared
// conformance messages (real mail from Google, Yahoo, Postfix, Exim, qmail
// and test suites) and compares the outcomes with a golden file. Run with
// -update after a deliberate change and review the diff.
func TestSharedCorpus(t *testing.T) {
	root := dnstest.SharedTestdata(t)
	var out bytes.Buffer
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		values, err := receivedHeaders(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, v := range values {
			if seen[v] {
				continue
			}
			seen[v] = true
			fmt.Fprintf(&out, "# %s\n%s\n=> %s\n", filepath.ToSlash(rel), strconv.Quote(v), outcome(v))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 20 {
		t.Fatalf("only %d Received headers found under %s", len(seen), root)
	}
	golden := filepath.Join("testdata", "shared-corpus.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("outcomes differ from %s (run with -update and review the diff):\n%s", golden, out.Bytes())
	}
}

// receivedHeaders returns the Received values of a file's header block;
// files that are not messages have none.
func receivedHeaders(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, _ := textproto.NewReader(bufio.NewReader(f)).ReadMIMEHeader()
	return h["Received"], nil
}

func outcome(v string) string {
	h, err := Parse(v)
	if err != nil {
		return "error: " + err.Error()
	}
	return h.String()
}
