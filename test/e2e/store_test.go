//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// reportJSON is the part of `spoofguard report --json` the tests read.
type reportJSON struct {
	Records int
	Domains []struct {
		Name    string
		Senders []struct {
			Source, DKIM, Sender string
			Count                int
		}
		Fixes []struct {
			Group string
			Entry string `json:"senders_entry"`
			Steps []string
		}
		Forgeries []struct {
			Door  string
			Count int
		}
	}
}

// runReport runs `spoofguard report` on a configuration and returns its
// output.
func runReport(t *testing.T, config string, args ...string) string {
	t.Helper()
	cmd := exec.Command(spoofguardBinary(t), append([]string{"report", "-config", config}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spoofguard report %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitReport polls the JSON report until it holds at least n records
// (the daemon writes them in batches, a second apart at most), then reads
// it once more after the next batch could have landed.
func waitReport(t *testing.T, config string, n int) reportJSON {
	t.Helper()
	read := func() reportJSON {
		var rep reportJSON
		out, err := exec.Command(spoofguardBinary(t), "report", "-config", config, "--json").Output()
		if err == nil {
			err = json.Unmarshal(out, &rep)
		}
		if err != nil {
			t.Logf("report not ready: %v", err) // the daemon may not have created the store yet
		}
		return rep
	}
	for deadline := time.Now().Add(20 * time.Second); read().Records < n; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the store holds fewer than %d records after 20s", n)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	return read()
}

// sendStream sends the mixed stream through the MTA: the newsletter
// service twice through the filter, own outbound mail, partner mail
// through the filter, and a forgery through each door (From through the
// filter, envelope and From straight to the back end). It returns the
// forgeries' results in that order.
func (w *sendersWorld) sendStream(t *testing.T) (newsletter []postfix.Result, forged []postfix.Result) {
	t.Helper()
	for range 2 {
		r, _ := w.send(t, "bounce@mcsv.example", true)
		newsletter = append(newsletter, r)
	}
	mail := func(c party, from, header string, viaRelay bool) postfix.Result {
		data := postfix.Message{From: header, To: rcpt, Subject: "stream", MessageID: postfix.NewMessageID(domainOf(header)), Body: "x\n"}.Bytes()
		m := postfix.Mail{Client: c.ip, Helo: c.helo, From: from, To: []string{rcpt}, Data: data}
		if viaRelay {
			hop := postfix.Hop{FromHelo: c.helo, FromIP: c.ip, By: relay.helo, For: rcpt}
			m.Data, m.Client, m.Helo = hop.Relay(m.Data), relay.ip, relay.helo
		}
		return w.mta.Send(t, m)
	}
	if r := mail(outbound, "news@example.org", "Example <news@example.org>", false); r.Stage() != postfix.StageAccepted {
		t.Errorf("own outbound mail refused at %s: %q", r.Stage(), r.Reply())
	}
	if r := mail(partner, "news@partner.example", "Partner <news@partner.example>", true); r.Stage() != postfix.StageAccepted {
		t.Errorf("partner mail refused at %s: %q", r.Stage(), r.Reply())
	}
	forged = append(forged,
		mail(spammer, "bounce@spammer.example", "CEO <ceo@example.org>", true),
		mail(spammer, "ceo@example.org", "CEO <ceo@example.org>", false),
		mail(spammer, "bounce@spammer.example", "CEO <ceo@example.org>", false))
	return newsletter, forged
}

// TestStoreRollout is the roll-out the report is for, through a real
// Postfix. In report-only mode the mixed stream is delivered whole, and
// `spoofguard report` names the newsletter service with the senders
// entry that fixes it, the forgeries by door (header, envelope, direct
// delivery: one message and two refused recipients), and nothing else.
// With that entry pasted in and enforce mode, the same stream gives the
// newsletter delivery and each forgery its refusal, and the report then
// shows the entry vouching for the newsletter and no fix left.
func TestStoreRollout(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "spoofguard.db")
	extra := "[store]\npath = \"" + db + "\""
	w := newSendersWorldWith(t, false, "report-only", "", extra)
	news, forged := w.sendStream(t)
	for _, r := range append(news, forged...) {
		if r.Stage() != postfix.StageAccepted {
			t.Fatalf("report-only refused a message at %s: %q", r.Stage(), r.Reply())
		}
	}
	// 2 newsletters, own outbound, 3 forgeries, 2 refused recipients;
	// the partner's mail names no protected domain.
	rep := waitReport(t, w.config, 8)
	if rep.Records != 8 {
		t.Errorf("%d records, want 8", rep.Records)
	}
	d := rep.Domains[0]
	if len(rep.Domains) != 1 || d.Name != "example.org" {
		t.Fatalf("domains %+v", rep.Domains)
	}
	const entry = `senders = [{ name = "mcsv.example", dkim = "mcsv.example" }]`
	if len(d.Fixes) != 1 || d.Fixes[0].Group != "mcsv.example d=mcsv.example" || d.Fixes[0].Entry != entry {
		t.Fatalf("fixes %+v, want the newsletter's only", d.Fixes)
	}
	doors := map[string]int{}
	for _, f := range d.Forgeries {
		doors[f.Door] = f.Count
	}
	if len(doors) != 3 || doors["header"] != 1 || doors["envelope"] != 1 || doors["direct delivery"] != 2 {
		t.Errorf("forgeries by door %v, want header 1, envelope 1, direct delivery 2", doors)
	}
	if text := runReport(t, w.config); !strings.Contains(text, entry) || !strings.Contains(text, "mcsv.example d=mcsv.example: 2 messages") {
		t.Errorf("text report:\n%s", text)
	}

	enforceWithEntry(t, entry)
}

// enforceWithEntry runs the stream again in enforce mode with the
// report's senders entry pasted in: the newsletter is delivered, each
// forgery refused, and the report shows the entry vouching and no fix.
func enforceWithEntry(t *testing.T, entry string) {
	db2 := filepath.Join(t.TempDir(), "spoofguard.db")
	w := newSendersWorldWith(t, false, "enforce", entry, "[store]\npath = \""+db2+"\"")
	news, forged := w.sendStream(t)
	for _, r := range news {
		if r.Stage() != postfix.StageAccepted {
			t.Errorf("enforce with the entry refused the newsletter at %s: %q", r.Stage(), r.Reply())
		}
	}
	// The envelope forgery is refused at RCPT TO by direct delivery: with
	// a DKIM-proved sender listed, the envelope rule waits for the body.
	for i, want := range []string{postfix.StageEndData, postfix.StageRcpt, postfix.StageRcpt} {
		if r := forged[i]; r.Stage() != want || !strings.HasPrefix(r.Reply(), "550") {
			t.Errorf("forgery %d: %s %q, want refused at %s", i, r.Stage(), r.Reply(), want)
		}
	}
	rep := waitReport(t, w.config, 6)
	d := rep.Domains[0]
	if len(d.Fixes) != 0 {
		t.Errorf("fixes left after enforcing with the entry: %+v", d.Fixes)
	}
	vouched := false
	for _, g := range d.Senders {
		vouched = vouched || g.DKIM == "mcsv.example" && g.Sender == "mcsv.example" && g.Count == 2
	}
	if !vouched {
		t.Errorf("no sender group names the entry: %+v", d.Senders)
	}
}
