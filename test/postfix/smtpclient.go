package postfix

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// SMTPClient is a minimal SMTP client (RFC 5321) for measuring: it runs
// transactions one after another over one session and times the reply to
// the final dot, which is when the MTA — and its milters — decide.
type SMTPClient struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// DialSMTP connects from local (a loopback address; "" lets the system
// choose) to addr, reads the banner and says EHLO helo.
func DialSMTP(addr, local, helo string) (*SMTPClient, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &SMTPClient{c: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 64<<10)}
	if code, text, err := s.reply(); err != nil || code != 220 {
		c.Close()
		return nil, fmt.Errorf("banner: %d %s %v", code, text, err)
	}
	if code, text, err := s.Cmd("EHLO " + helo); err != nil || code != 250 {
		c.Close()
		return nil, fmt.Errorf("EHLO: %d %s %v", code, text, err)
	}
	return s, nil
}

// Cmd sends one command line and reads the (possibly multi-line) reply.
func (s *SMTPClient) Cmd(line string) (code int, text string, err error) {
	s.c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := s.w.WriteString(line + "\r\n"); err != nil {
		return 0, "", err
	}
	if err := s.w.Flush(); err != nil {
		return 0, "", err
	}
	return s.reply()
}

// reply reads a reply; text holds its lines joined by "\n".
func (s *SMTPClient) reply() (int, string, error) {
	var lines []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return 0, strings.Join(lines, "\n"), err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return 0, line, fmt.Errorf("short reply line %q", line)
		}
		lines = append(lines, line)
		if len(line) == 3 || line[3] != '-' {
			code, err := strconv.Atoi(line[:3])
			return code, strings.Join(lines, "\n"), err
		}
	}
}

// Transaction is the outcome of one message.
type Transaction struct {
	// Code and Reply are the reply that ended the transaction: the one to
	// the final dot, or the refusal of an earlier command.
	Code  int
	Reply string
	// Stage is where it ended: StageAccepted, StageMail, StageRcpt,
	// StageData or StageEndData.
	Stage string
	// EndOfData is the time from sending the final dot to its reply.
	EndOfData time.Duration
}

// Send runs one transaction. data is the message with CRLF or LF line
// ends; it is sent dot-stuffed and its body fully written before the
// final dot, so EndOfData measures the MTA's (and milters') decision only.
// A refused transaction is reset with RSET so the session can go on.
func (s *SMTPClient) Send(from string, to []string, data []byte) (Transaction, error) {
	refused := func(stage string, code int, text string) (Transaction, error) {
		if _, _, err := s.Cmd("RSET"); err != nil {
			return Transaction{}, err
		}
		return Transaction{Code: code, Reply: text, Stage: stage}, nil
	}
	code, text, err := s.Cmd("MAIL FROM:<" + from + ">")
	if err != nil {
		return Transaction{}, err
	}
	if code/100 != 2 {
		return refused(StageMail, code, text)
	}
	accepted := 0
	var last Transaction
	for _, rcpt := range to {
		code, text, err := s.Cmd("RCPT TO:<" + rcpt + ">")
		if err != nil {
			return Transaction{}, err
		}
		if code/100 == 2 {
			accepted++
		} else {
			last = Transaction{Code: code, Reply: text, Stage: StageRcpt}
		}
	}
	if accepted == 0 {
		return refused(StageRcpt, last.Code, last.Reply)
	}
	if code, text, err = s.Cmd("DATA"); err != nil {
		return Transaction{}, err
	}
	if code != 354 {
		return refused(StageData, code, text)
	}
	stuffed := SMTPData(data) // ends in "\r\n." without the last CRLF
	if _, err := s.w.Write(stuffed[:len(stuffed)-1]); err != nil {
		return Transaction{}, err
	}
	if err := s.w.Flush(); err != nil {
		return Transaction{}, err
	}
	start := time.Now()
	code, text, err = s.Cmd(".")
	took := time.Since(start)
	if err != nil {
		return Transaction{}, err
	}
	t := Transaction{Code: code, Reply: text, Stage: StageAccepted, EndOfData: took}
	if code/100 != 2 {
		t.Stage = StageEndData
	}
	return t, nil
}

// Close says QUIT and closes the connection.
func (s *SMTPClient) Close() error {
	s.Cmd("QUIT")
	return s.c.Close()
}
