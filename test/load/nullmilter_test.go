//go:build load

package load

import (
	"strconv"
	"testing"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/milter"
	"github.com/spoofguard/spoofguard/test/postfix"
)

// nullMilter is the yardstick for what any milter costs Postfix: it asks
// for the same events, with the same no-reply flags and macros, as
// spoofguard, runs on the same listener (batched replies, TCP_QUICKACK),
// and accepts every message without looking at it. It runs inside the
// test process; its CPU time is the process's.
func startNullMilter(t *testing.T) string {
	t.Helper()
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "inet:127.0.0.1:" + strconv.Itoa(port)
	ln, err := milter.Listen(config.Listen{Network: "tcp4", Address: "127.0.0.1:" + strconv.Itoa(port)}, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	const protocol = gomilter.OptNoUnknown | gomilter.OptNoData |
		gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoHeaderReply |
		gomilter.OptNoBodyReply | gomilter.OptNoUnknownReply | gomilter.OptNoDataReply |
		gomilter.OptHeaderLeadingSpace
	srv := gomilter.NewServer(
		gomilter.WithMilter(func() gomilter.Milter { return nullSession{} }),
		gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeHeader|gomilter.OptQuarantine),
		gomilter.WithProtocols(protocol),
		gomilter.WithMacroRequest(gomilter.StageMail, []gomilter.MacroName{gomilter.MacroQueueId, gomilter.MacroAuthAuthen}),
		gomilter.WithMacroRequest(gomilter.StageEOH, []gomilter.MacroName{gomilter.MacroQueueId}),
		gomilter.WithMacroRequest(gomilter.StageEOM, []gomilter.MacroName{gomilter.MacroQueueId}),
	)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return addr
}

type nullSession struct{ gomilter.NoOpMilter }

func (nullSession) EndOfMessage(gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespAccept, nil
}
