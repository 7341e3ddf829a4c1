package milter

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/policy"
)

// stageTimeout bounds the work of one stage (DNS included), well inside
// Postfix's milter_command_timeout (30 s).
const stageTimeout = 20 * time.Second

// session is one MTA connection: one SMTP session, possibly several
// transactions. It collects what each milter event tells, hands it to the
// policy engine, and turns the engine's verdicts into milter responses.
type session struct {
	gomilter.NoOpMilter
	d *Daemon

	client policy.Client
	msg    *policy.Message
	rt     *runtime // the configuration the current transaction started with
	cancel context.CancelFunc
	ctx    context.Context
	queue  string
	logged bool
	open   bool // counted in spoofguard_sessions_open
}

// NewConnection starts an SMTP session. The MTA may reuse one milter
// connection for the next SMTP session (SMFIC_QUIT_NC): the connection is
// counted once, and what the last session left behind is dropped.
func (s *session) NewConnection(gomilter.Modifier) error {
	s.reset()
	s.client = policy.Client{}
	if !s.open {
		s.open = true
		s.d.metrics.sessions.Add(1)
	}
	return nil
}

func (s *session) Connect(host, family string, port uint16, addr string, _ gomilter.Modifier) (*gomilter.Response, error) {
	s.client = policy.Client{Hostname: host, Local: nonSMTP(host, family, port)}
	if family == "tcp4" || family == "tcp6" {
		if ip, err := netip.ParseAddr(addr); err == nil {
			s.client.IP = ip.Unmap()
		}
	}
	return gomilter.RespContinue, nil
}

func (s *session) Helo(name string, _ gomilter.Modifier) (*gomilter.Response, error) {
	s.client.Helo = name
	return gomilter.RespContinue, nil
}

func (s *session) MailFrom(from, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.reset()
	s.rt = s.d.current()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.queue = m.Get(gomilter.MacroQueueId)
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, stageTimeout)
	defer cancel()
	var v policy.Verdict
	s.msg, v = s.rt.engine.Begin(ctx, s.client, from, m.Get(gomilter.MacroAuthAuthen))
	s.d.metrics.observe("mail", time.Since(start))
	return s.respond(v, true), nil
}

func (s *session) RcptTo(rcpt, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	if s.msg == nil {
		return gomilter.RespContinue, nil
	}
	s.noteQueue(m)
	start := time.Now()
	v := s.msg.Rcpt(rcpt)
	s.d.metrics.observe("rcpt", time.Since(start))
	if v.Rule != "" && v.Action != config.ActionAccept && v.Action != config.ActionQuarantine {
		s.d.metrics.rcpt(string(v.Action), v.Rule, v.ReportOnly)
		if v.Enforced() {
			s.rt.log.Info("recipient refused", "queue", s.queue, "client", s.client.IP.String(), "class", string(s.msg.Class),
				"from", s.msg.MailFrom, rcptAttr(s.msg.Rcpts[len(s.msg.Rcpts)-1:]), "verdict", string(v.Action), "rule", v.Rule, "reason", v.Reason)
		}
	}
	if v.EndsTransaction() {
		return response(v), nil
	}
	return gomilter.RespContinue, nil
}

func (s *session) Header(name, value string, _ gomilter.Modifier) (*gomilter.Response, error) {
	if s.msg != nil {
		s.msg.Header(name, value)
	}
	return gomilter.RespContinue, nil
}

func (s *session) Headers(m gomilter.Modifier) (*gomilter.Response, error) {
	if s.msg == nil {
		return gomilter.RespContinue, nil
	}
	s.noteQueue(m)
	start := time.Now()
	// DKIM verification started here goes on while the body arrives, so
	// it gets the transaction's context, not one that ends with this
	// stage; its lookups are bounded by the resolver's own timeouts.
	v := s.msg.EndOfHeaders(s.ctx)
	s.d.metrics.observe("headers", time.Since(start))
	return s.respond(v, true), nil
}

func (s *session) BodyChunk(chunk []byte, _ gomilter.Modifier) (*gomilter.Response, error) {
	if s.msg != nil {
		s.msg.Body(chunk)
	}
	return gomilter.RespContinue, nil
}

func (s *session) EndOfMessage(m gomilter.Modifier) (*gomilter.Response, error) {
	if s.msg == nil {
		return gomilter.RespAccept, nil
	}
	s.noteQueue(m)
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, stageTimeout)
	defer cancel()
	v := s.msg.EndOfBody(ctx)
	s.d.metrics.observe("body", time.Since(start))
	if resp := s.respond(v, false); resp != nil {
		return resp, nil
	}
	if err := applyEdits(s.msg.HeaderEdits(), m); err != nil {
		s.rt.log.Warn("changing headers failed", "queue", s.queue, "err", err)
	}
	s.changeSender(m)
	if v.Effective() == config.ActionQuarantine {
		if err := m.Quarantine(quarantineReason(v)); err != nil {
			s.rt.log.Warn("quarantine failed", "queue", s.queue, "err", err)
		}
	}
	s.finish("")
	return gomilter.RespAccept, nil
}

func (s *session) Abort(gomilter.Modifier) error {
	if s.msg != nil && !s.logged && len(s.msg.Rcpts) > 0 {
		s.finish("aborted")
	}
	s.reset()
	return nil
}

func (s *session) Cleanup(gomilter.Modifier) {
	s.reset()
	if s.open {
		s.open = false
		s.d.metrics.sessions.Add(-1)
	}
}

// reset drops the current transaction and whatever it holds.
func (s *session) reset() {
	if s.msg != nil {
		s.msg.Abort()
		s.msg = nil
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	s.logged = false
	s.queue = ""
}

// respond turns a transaction-wide verdict into the milter response for
// the current stage: a reply that ends the transaction when the verdict
// is an enforced reject or tempfail; otherwise continue (nil at end of
// body, where the caller accepts with header changes).
func (s *session) respond(v policy.Verdict, midway bool) *gomilter.Response {
	switch v.Effective() {
	case config.ActionReject, config.ActionTempFail:
		s.finish("")
		return response(v)
	}
	if midway {
		return gomilter.RespContinue
	}
	return nil
}

// response is the milter reply for a reject or tempfail verdict.
func response(v policy.Verdict) *gomilter.Response {
	resp, err := gomilter.RejectWithCodeAndReason(uint16(v.Code), v.Status+" "+sanitizeReply(v.Text))
	if err != nil {
		if v.Action == config.ActionTempFail {
			return gomilter.RespTempFail
		}
		return gomilter.RespReject
	}
	return resp
}

// quarantineReason is what the MTA keeps with a held message: Sendmail
// writes it to the queue file's q line and shows it in "mailq -qQ",
// Postfix logs it with "milter-hold". A quarantine has no SMTP reply, so
// its verdict has no reply text; the rule, the domain and the engine's
// explanation say why, on one line of printable ASCII.
func quarantineReason(v policy.Verdict) string {
	why := v.Text
	if why == "" {
		why = v.Reason
	}
	head := v.Rule
	if v.Domain != "" {
		head += " domain=" + v.Domain
	}
	return sanitizeReply(head + ": " + why)
}

// sanitizeReply keeps an SMTP reply to printable ASCII on one line: the
// text may quote addresses the sender chose.
func sanitizeReply(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 400 {
		b = append(b[:397], "..."...)
	}
	return string(b)
}

// applyEdits carries out the engine's header plan: deletions in the
// order given (which keeps each index valid), then each new field
// inserted at the top, last first, so they stand in the plan's order.
// Values folded with CRLF reach the MTA with bare LF line ends from
// go-milter, which Postfix and Sendmail store as their own.
func applyEdits(plan policy.HeaderEdits, m gomilter.Modifier) error {
	for _, r := range plan.Remove {
		if err := m.ChangeHeader(r.Index, r.Name, ""); err != nil {
			return err
		}
	}
	for i := len(plan.Insert) - 1; i >= 0; i-- {
		if err := m.InsertHeader(0, plan.Insert[i].Name, plan.Insert[i].Value); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the one log line of the transaction and counts it. The
// line is built from slog.Attr values (LogAttrs), which, unlike key-value
// pairs passed as ...any, do not allocate for every string.
func (s *session) finish(note string) {
	if s.logged || s.msg == nil {
		return
	}
	s.logged = true
	msg := s.msg
	v, obs := msg.Verdict(), msg.Observed()
	s.d.metrics.message(string(obs.Action), obs.Rule, obs.ReportOnly)
	s.record()
	s.d.metrics.batv.count(msg)
	log := s.rt.log
	if !log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 24)
	attrs = append(attrs,
		slog.String("queue", s.queue),
		slog.String("client", s.client.IP.String()),
		slog.String("helo", s.client.Helo),
		slog.String("class", string(msg.Class)),
	)
	if msg.Relay != "" {
		attrs = append(attrs, slog.String("relay", msg.Relay))
	}
	if o := msg.Origin; o != nil {
		if o.Err != "" {
			attrs = append(attrs, slog.String("origin_error", o.Err))
		} else {
			attrs = append(attrs, slog.String("origin", o.IP.String()), slog.String("origin_helo", o.Helo))
		}
	}
	attrs = append(attrs, slog.String("from", msg.MailFrom), rcptAttr(msg.Rcpts))
	if len(msg.From.Addresses) > 0 || msg.From.Problem != "" {
		attrs = append(attrs, slog.String("header_from", strings.Join(msg.From.Addresses, ",")))
	}
	attrs = appendResultAttrs(attrs, msg)
	attrs = appendTrustAttrs(attrs, msg)
	attrs = append(attrs, slog.String("verdict", string(v.Effective())), slog.String("rule", obs.Rule))
	if obs.ReportOnly {
		attrs = append(attrs, slog.String("would", string(obs.Action)))
	}
	if obs.Reason != "" {
		attrs = append(attrs, slog.String("reason", obs.Reason))
	}
	if note != "" {
		attrs = append(attrs, slog.String("note", note))
	}
	attrs = append(attrs, slog.String("duration", time.Since(msg.Started).Round(time.Microsecond).String()))
	log.LogAttrs(context.Background(), slog.LevelInfo, "message", attrs...)
}

// rcptAttr is how every log line spells recipients: as the engine
// recorded them (no angle brackets), comma-separated, under "rcpt".
func rcptAttr(rcpts []string) slog.Attr {
	return slog.String("rcpt", strings.Join(rcpts, ","))
}

// appendResultAttrs renders each method's results compactly for the log
// line.
func appendResultAttrs(attrs []slog.Attr, msg *policy.Message) []slog.Attr {
	if msg.SPF != nil {
		attrs = append(attrs, slog.String("spf", string(msg.SPF.Result)))
	}
	if len(msg.DKIM) > 0 {
		var b strings.Builder
		for i, r := range msg.DKIM {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(string(r.Result))
			b.WriteByte(':')
			b.WriteString(r.Domain)
		}
		attrs = append(attrs, slog.String("dkim", b.String()))
	}
	if len(msg.DMARC) > 0 {
		var b strings.Builder
		for i, r := range msg.DMARC {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(string(r.Result))
			b.WriteByte(':')
			b.WriteString(r.FromDomain)
		}
		attrs = append(attrs, slog.String("dmarc", b.String()))
	}
	if name := msg.AuthorizedSender(); name != "" {
		attrs = append(attrs, slog.String("authorized_sender", name))
	}
	return attrs
}

// noteQueue takes the MTA's queue id once it has one: Postfix assigns it
// only after a recipient is accepted, so MAIL FROM may not carry it.
func (s *session) noteQueue(m gomilter.Modifier) {
	if q := m.Get(gomilter.MacroQueueId); q != "" {
		s.queue = q
	}
}
