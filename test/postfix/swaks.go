package postfix

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Mail is one SMTP transaction for swaks to run.
type Mail struct {
	// Client is the loopback address to connect from (127.0.0.X); Postfix
	// and the milter see it as the client address. Empty: 127.0.0.1.
	Client string
	// Helo is the EHLO name. Empty: swaks's default (the host name).
	Helo string
	// From is the envelope sender; "" sends the null sender MAIL FROM:<>.
	From string
	To   []string
	// Data is the message (header and body); line ends may be LF or CRLF.
	// It is sent exactly as given, after dot-stuffing.
	Data []byte
}

// Result is what swaks saw.
type Result struct {
	// Exit is swaks's exit status: 0 all accepted, 23 MAIL FROM refused,
	// 24 no RCPT TO accepted, 26 refused after DATA, others see swaks(1).
	Exit int
	// Transcript is swaks's whole output.
	Transcript string
	// Errors are the server's error replies ("550 5.7.1 ..."), in order.
	Errors []string
	// QueueID is the id from "250 ... queued as ID", when accepted.
	QueueID string
}

// Stages of the SMTP dialogue named by swaks's exit status.
const (
	StageAccepted = "accepted"
	StageMail     = "MAIL FROM"
	StageRcpt     = "RCPT TO"
	StageData     = "DATA"
	StageEndData  = "end of DATA"
)

// Stage names where the transaction ended: StageAccepted, or the command
// the server refused; anything else is reported as "swaks exit N".
func (r Result) Stage() string {
	switch r.Exit {
	case 0:
		return StageAccepted
	case 23:
		return StageMail
	case 24:
		return StageRcpt
	case 25:
		return StageData
	case 26:
		return StageEndData
	}
	return "swaks exit " + strconv.Itoa(r.Exit)
}

// Reply is the last error reply of the server, or "". The status code and
// enhanced status of a multi-line reply are on its last line.
func (r Result) Reply() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[len(r.Errors)-1]
}

// Send runs one transaction against the instance's smtpd.
func (p *Instance) Send(t testing.TB, m Mail) Result {
	t.Helper()
	return Send(t, p.Addr, m)
}

// Send runs one SMTP transaction with swaks against addr (host:port). It
// fails the test only when swaks itself cannot run; refusals by the server
// are the Result.
func Send(t testing.TB, addr string, m Mail) Result {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	data := filepath.Join(t.TempDir(), "message.eml")
	if err := os.WriteFile(data, SMTPData(m.Data), 0o644); err != nil {
		t.Fatal(err)
	}
	from := m.From
	if from == "" {
		from = "<>"
	}
	args := []string{"--server", host, "--port", port, "--from", from,
		"--to", strings.Join(m.To, ","), "--data", "@" + data, "--no-data-fixup",
		"--timeout", "60"}
	if m.Client != "" {
		args = append(args, "--local-interface", m.Client)
	}
	if m.Helo != "" {
		args = append(args, "--ehlo", m.Helo)
	}
	out, err := exec.Command("swaks", args...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("swaks: %v", err)
	}
	r := ParseTranscript(string(out))
	if exit != nil {
		r.Exit = exit.ExitCode()
	}
	return r
}

// SMTPData turns a message into what swaks --no-data-fixup must send:
// CRLF line ends, leading dots doubled (RFC 5321 §4.5.2), and the final
// "." that swaks completes with its own CRLF.
func SMTPData(msg []byte) []byte {
	text := strings.ReplaceAll(string(msg), "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	var b bytes.Buffer
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString(".")
	return b.Bytes()
}

var queuedAs = regexp.MustCompile(`queued as ([0-9A-Za-z]+)`)

// ParseTranscript collects the server's error replies ("<** " lines; a
// multi-line reply, "550-..." up to "550 ...", becomes one entry with its
// lines joined by "\n") and the queue id from a swaks transcript.
func ParseTranscript(out string) Result {
	r := Result{Transcript: out}
	var reply []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if rest, ok := strings.CutPrefix(line, "<** "); ok {
			rest = strings.TrimSpace(rest)
			reply = append(reply, rest)
			if len(rest) < 4 || rest[3] != '-' {
				r.Errors = append(r.Errors, strings.Join(reply, "\n"))
				reply = nil
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "<-  "); ok {
			if m := queuedAs.FindStringSubmatch(rest); m != nil {
				r.QueueID = m[1]
			}
		}
	}
	if len(reply) > 0 { // cut off mid-reply: keep what came
		r.Errors = append(r.Errors, strings.Join(reply, "\n"))
	}
	return r
}
