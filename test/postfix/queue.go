package postfix

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// QueueEntry is one message of postqueue -j.
type QueueEntry struct {
	QueueName  string `json:"queue_name"` // "hold", "incoming", "active", "deferred"
	QueueID    string `json:"queue_id"`
	Sender     string `json:"sender"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// Queue lists the instance's queue with postqueue -j. Only its standard
// output is JSON: main.cf lines that Config.Extra overrides make postfix
// commands print warnings on standard error.
func (p *Instance) Queue() ([]QueueEntry, error) {
	cmd := exec.Command("postqueue", "-c", p.ConfigDir, "-j")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("postqueue -j: %v: %s", err, stderr.String())
	}
	return ParseQueue(string(out))
}

// ParseQueue reads postqueue -j output: one JSON object per line.
func ParseQueue(out string) ([]QueueEntry, error) {
	var entries []QueueEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e QueueEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("postqueue -j line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// WaitHeld waits until the message with the given Message-ID sits in the
// hold queue (where a milter's quarantine puts it) and returns its entry.
func (p *Instance) WaitHeld(t testing.TB, messageID string, timeout time.Duration) QueueEntry {
	t.Helper()
	var found QueueEntry
	var err error
	ok := poll(timeout, func() bool {
		found, err = p.findHeld(messageID)
		return found.QueueID != "" || err != nil
	})
	switch {
	case err != nil:
		t.Fatalf("postfix: %v", err)
	case !ok:
		t.Fatalf("postfix: message %s not in the hold queue within %v", messageID, timeout)
	}
	return found
}

// findHeld looks at each held message's header with postcat.
func (p *Instance) findHeld(messageID string) (QueueEntry, error) {
	entries, err := p.Queue()
	if err != nil {
		return QueueEntry{}, err
	}
	want := trimAngles(messageID)
	for _, e := range entries {
		if e.QueueName != "hold" {
			continue
		}
		id, err := p.queuedMessageID(e.QueueID)
		if err != nil {
			return QueueEntry{}, err
		}
		if id == want {
			return e, nil
		}
	}
	return QueueEntry{}, nil
}

// queuedMessageID reads the Message-ID of a queued message.
func (p *Instance) queuedMessageID(queueID string) (string, error) {
	d, err := p.QueuedHeader(queueID)
	if err != nil {
		return "", err
	}
	return trimAngles(d.Get("Message-ID")), nil
}

// QueuedHeader reads the header of a queued message (e.g. one on hold),
// with every change the milter made, as postcat shows it.
func (p *Instance) QueuedHeader(queueID string) (*Delivered, error) {
	out, err := exec.Command("postcat", "-c", p.ConfigDir, "-h", "-q", queueID).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("postcat -q %s: %v: %s", queueID, err, out)
	}
	// postcat -h prints the header only, without the empty line after it.
	d, err := ParseDelivered(queueID, append(out, '\n', '\n'))
	if err != nil {
		return nil, fmt.Errorf("postcat -q %s: %v", queueID, err)
	}
	return d, nil
}
