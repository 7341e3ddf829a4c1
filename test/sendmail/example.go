package sendmail

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// inputMailFilter matches an INPUT_MAIL_FILTER(`name', `equates') line.
var inputMailFilter = regexp.MustCompile("INPUT_MAIL_FILTER\\(`([^']+)', `([^']+)'\\)")

// ExampleLine is the INPUT_MAIL_FILTER line of the example shipped in
// examples/sendmail/spoofguard.mc.
func ExampleLine() (string, error) {
	root, err := dnstest.RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "examples", "sendmail", "spoofguard.mc")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "INPUT_MAIL_FILTER(") {
			return inputMailFilter.FindString(line), nil
		}
	}
	return "", fmt.Errorf("%s: no INPUT_MAIL_FILTER line", path)
}

// ExampleMilter is the milter of the shipped example, with its flags
// (F=) and timeouts (T=), so the suite runs Sendmail as administrators
// are told to; the caller sets Socket.
func ExampleMilter() (Milter, error) {
	line, err := ExampleLine()
	if err != nil {
		return Milter{}, err
	}
	return ParseInputMailFilter(line)
}

// ParseInputMailFilter reads the name, F= and T= of an INPUT_MAIL_FILTER
// line; S= (the socket) is left to the caller.
func ParseInputMailFilter(line string) (Milter, error) {
	m := inputMailFilter.FindStringSubmatch(line)
	if m == nil {
		return Milter{}, fmt.Errorf("not an INPUT_MAIL_FILTER(`name', `equates') line: %q", line)
	}
	mi := Milter{Name: m[1]}
	for _, eq := range strings.Split(m[2], ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(eq), "=")
		switch key {
		case "F":
			mi.Flags = value
		case "T":
			mi.Timeouts = value
		}
	}
	return mi, nil
}
