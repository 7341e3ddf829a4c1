package sendmail

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// Send runs one SMTP transaction with swaks against the instance.
func (s *Instance) Send(t testing.TB, m postfix.Mail) postfix.Result {
	t.Helper()
	return postfix.Send(t, s.Addr, m)
}

// WaitDelivered waits until a message with the given Message-ID is in
// one of the instance's Maildirs and returns it.
func (s *Instance) WaitDelivered(t testing.TB, messageID string, timeout time.Duration) *postfix.Delivered {
	t.Helper()
	return postfix.Maildirs(s.MailDir).WaitDelivered(t, messageID, timeout)
}

// FindDelivered returns the message if it is in a Maildir now.
func (s *Instance) FindDelivered(t testing.TB, messageID string) *postfix.Delivered {
	t.Helper()
	return postfix.Maildirs(s.MailDir).FindDelivered(t, messageID)
}

// Quarantined is a message Sendmail holds in its quarantine: a queue
// file renamed from qf to hf, with the milter's reason on its q line.
type Quarantined struct {
	QueueID string
	Reason  string
	// Header is the message header as queued, with the milter's changes.
	Header *postfix.Delivered
}

// WaitQuarantined waits until the message with the given Message-ID is
// in the quarantine and "mailq -qQ" lists it, and returns its header.
func (s *Instance) WaitQuarantined(t testing.TB, messageID string, timeout time.Duration) *postfix.Delivered {
	t.Helper()
	return s.WaitQuarantine(t, messageID, timeout).Header
}

// WaitQuarantine is WaitQuarantined with the queue id and the reason.
func (s *Instance) WaitQuarantine(t testing.TB, messageID string, timeout time.Duration) Quarantined {
	t.Helper()
	var q Quarantined
	var err error
	ok := postfix.Poll(timeout, func() bool {
		q, err = s.findQuarantined(messageID)
		return q.QueueID != "" || err != nil
	})
	switch {
	case err != nil:
		t.Fatalf("sendmail: %v", err)
	case !ok:
		t.Fatalf("sendmail: message %s not quarantined within %v; queue folder: %v", messageID, timeout, s.queueFiles())
	}
	list, err := s.Mailq("-qQ")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, q.QueueID) {
		t.Fatalf("sendmail: mailq -qQ does not list quarantined %s:\n%s", q.QueueID, list)
	}
	return q
}

func (s *Instance) queueFiles() []string {
	names, _ := filepath.Glob(filepath.Join(s.QueueDir, "*"))
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// findQuarantined reads every hf file of the queue folder.
func (s *Instance) findQuarantined(messageID string) (Quarantined, error) {
	paths, err := filepath.Glob(filepath.Join(s.QueueDir, "hf*"))
	if err != nil {
		return Quarantined{}, err
	}
	for _, path := range paths {
		q, err := ReadQueueFile(path)
		if err != nil {
			return Quarantined{}, err
		}
		if strings.Trim(q.Header.Get("Message-ID"), "<> ") == strings.Trim(messageID, "<> ") {
			return q, nil
		}
	}
	return Quarantined{}, nil
}

// ReadQueueFile reads the reason (q line) and the header (H lines) of a
// Sendmail queue control file (qf or hf; see Sendmail's op.me, "Queue
// File Formats"). A header line may carry a condition ("H?F?From: x");
// continuation lines start with white space.
func ReadQueueFile(path string) (Quarantined, error) {
	f, err := os.Open(path)
	if err != nil {
		return Quarantined{}, err
	}
	defer f.Close()
	q := Quarantined{QueueID: filepath.Base(path)[2:]}
	var head strings.Builder
	inHeader := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if inHeader && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			head.WriteString(line + "\n")
			continue
		}
		inHeader = strings.HasPrefix(line, "H")
		switch {
		case inHeader:
			head.WriteString(stripCondition(line[1:]) + "\n")
		case strings.HasPrefix(line, "q"):
			q.Reason = line[1:]
		}
	}
	if err := sc.Err(); err != nil {
		return Quarantined{}, err
	}
	d, err := postfix.ParseDelivered(path, []byte(head.String()+"\n"))
	if err != nil {
		return Quarantined{}, fmt.Errorf("%s: %v", path, err)
	}
	q.Header = d
	return q, nil
}

// stripCondition drops the "?flags?" before a queued header's name.
func stripCondition(h string) string {
	if strings.HasPrefix(h, "?") {
		if i := strings.IndexByte(h[1:], '?'); i >= 0 {
			return h[i+2:]
		}
	}
	return h
}

// Mailq lists the queue ("mailq" is "sendmail -bp"); "-qQ" lists the
// quarantine instead.
func (s *Instance) Mailq(args ...string) (string, error) {
	out, err := s.Command(append([]string{"-bp"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mailq %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
