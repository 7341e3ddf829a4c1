package milter

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/policy"
)

// TestDaemonAuthorizedSender drives the daemon over its socket with
// edge.example listing partner.example's DKIM signature as an authorised
// sender: the partner's signed mail as edge.example is accepted, with the
// entry named in Authentication-Results and the log line, whether the
// envelope sender is the partner's or edge.example's; the same mail
// unsigned is refused at the end of the headers.
func TestDaemonAuthorizedSender(t *testing.T) {
	w := newIdleDaemonWorld(t, "")
	f, err := os.OpenFile(w.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The configuration ends in edge.example's [[domain]] table.
	if _, err := f.WriteString(`senders = [{ name = "Partner news", dkim = "partner.example" }]` + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w.start(policy.Options{})
	addr := w.d.Addr().String()
	rcpt := []string{"user@edge.example"}

	for _, env := range []string{"news@partner.example", "news@edge.example"} {
		r := send(t, addr, "192.0.2.30", "mail.partner.example", "", env, rcpt, w.message("News <news@edge.example>", true, ""))
		if r.stage != "eom" || r.act.Type != gomilter.ActionAccept || r.quarantined() {
			t.Fatalf("%s: got %s %v", env, r.stage, r.act)
		}
		ar := strings.Join(strings.Fields(strings.Join(r.header("Authentication-Results"), "")), " ")
		if !strings.Contains(ar, `authorised sender "Partner news" for edge.example`) || !strings.Contains(ar, "dkim=pass header.d=partner.example") {
			t.Errorf("%s: Authentication-Results = %q", env, ar)
		}
		if v := r.header("X-Spoofguard"); len(v) != 1 || !strings.HasPrefix(strings.TrimSpace(v[0]), "accept") {
			t.Errorf("%s: verdict header = %q", env, v)
		}
	}
	for _, env := range []string{"forger@partner.example", "ceo@edge.example"} {
		r := send(t, addr, "192.0.2.30", "mail.partner.example", "", env, rcpt, w.message("News <news@edge.example>", false, ""))
		if r.stage != "eoh" || !isReject(r.act, 550) {
			t.Errorf("unsigned, %s: got %s %v", env, r.stage, r.act)
		}
	}

	named := 0
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "message" {
			continue
		}
		if rec["authorized_sender"] == "Partner news" {
			named++
		} else if rec["authorized_sender"] != nil {
			t.Errorf("log line names %v: %s", rec["authorized_sender"], line)
		}
	}
	if named != 2 {
		t.Errorf("%d log lines name the authorised sender, want 2:\n%s", named, w.logs.String())
	}
}
