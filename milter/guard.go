package milter

import (
	"fmt"
	"runtime/debug"

	gomilter "github.com/d--j/go-milter"
)

// guarded runs a session's callbacks under recover. A Go panic in one
// session's goroutine would end the whole daemon, and a milter that dies
// makes the MTA tempfail or accept every message; a bug that some message
// trips must cost that transaction a temporary failure and a logged
// stack, nothing more.
//
// After a panic the transaction's state cannot be trusted: it is
// dropped, the events that get no reply are ignored, and the next event
// that does get one is answered with a tempfail. The next MAIL FROM
// starts afresh.
type guarded struct {
	s      *session
	failed bool
}

// internalError is the reply for a transaction a bug ended.
var internalError = mustReply(451, "4.3.0 internal error, try again later")

func mustReply(code uint16, text string) *gomilter.Response {
	r, err := gomilter.RejectWithCodeAndReason(code, text)
	if err != nil {
		panic(err)
	}
	return r
}

// run calls f, turning a panic into internalError (or, for an event the
// MTA expects no reply to, into continue).
func (g *guarded) run(stage string, replies bool, f func() (*gomilter.Response, error)) (resp *gomilter.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			g.recovered(stage, r)
			resp, err = gomilter.RespContinue, nil
			if replies {
				resp = internalError
			}
		}
	}()
	if g.failed {
		if replies {
			return internalError, nil
		}
		return gomilter.RespContinue, nil
	}
	return f()
}

// recovered logs the panic and drops the transaction.
func (g *guarded) recovered(stage string, r any) {
	g.failed = true
	g.s.d.current().log.Error("internal error: transaction ended with a temporary failure",
		"stage", stage, "queue", g.s.queue, "client", g.s.client.IP.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	func() {
		defer func() { recover() }() // the state that panicked may panic again
		g.s.reset()
	}()
}

// quietly runs f, which has no reply, under recover.
func (g *guarded) quietly(stage string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			g.recovered(stage, r)
		}
	}()
	f()
}

func (g *guarded) NewConnection(m gomilter.Modifier) (err error) {
	g.failed = false
	g.quietly("connect", func() { err = g.s.NewConnection(m) })
	return err
}

func (g *guarded) Connect(host, family string, port uint16, addr string, m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("connect", false, func() (*gomilter.Response, error) { return g.s.Connect(host, family, port, addr, m) })
}

func (g *guarded) Helo(name string, m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("helo", false, func() (*gomilter.Response, error) { return g.s.Helo(name, m) })
}

func (g *guarded) MailFrom(from, esmtpArgs string, m gomilter.Modifier) (*gomilter.Response, error) {
	g.failed = false // a new transaction
	return g.run("mail", true, func() (*gomilter.Response, error) { return g.s.MailFrom(from, esmtpArgs, m) })
}

func (g *guarded) RcptTo(rcpt, esmtpArgs string, m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("rcpt", true, func() (*gomilter.Response, error) { return g.s.RcptTo(rcpt, esmtpArgs, m) })
}

func (g *guarded) Data(m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("data", false, func() (*gomilter.Response, error) { return g.s.Data(m) })
}

func (g *guarded) Header(name, value string, m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("header", false, func() (*gomilter.Response, error) { return g.s.Header(name, value, m) })
}

func (g *guarded) Headers(m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("headers", true, func() (*gomilter.Response, error) { return g.s.Headers(m) })
}

func (g *guarded) BodyChunk(chunk []byte, m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("body", false, func() (*gomilter.Response, error) { return g.s.BodyChunk(chunk, m) })
}

func (g *guarded) EndOfMessage(m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("eom", true, func() (*gomilter.Response, error) { return g.s.EndOfMessage(m) })
}

func (g *guarded) Unknown(cmd string, m gomilter.Modifier) (*gomilter.Response, error) {
	return g.run("unknown", false, func() (*gomilter.Response, error) { return g.s.Unknown(cmd, m) })
}

func (g *guarded) Abort(m gomilter.Modifier) (err error) {
	g.quietly("abort", func() { err = g.s.Abort(m) })
	g.failed = false
	return err
}

func (g *guarded) Cleanup(m gomilter.Modifier) {
	g.quietly("cleanup", func() { g.s.Cleanup(m) })
}
