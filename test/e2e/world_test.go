//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"text/template"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/test/postfix"
)

// authservID is the authserv-id spoofguard is configured with; Postfix's
// myhostname is the same name.
const authservID = "mx.example.org"

// zone is the DNS of the test world. example.org publishes p=none on
// purpose: header-forgery must reject forged own-domain mail whatever the
// domain's own DMARC policy says.
const zone = `
example.org.               SOA   ns.example.org. hostmaster.example.org. 1 3600 600 86400 300
example.org.               MX    10 filter.example.org.
filter.example.org.        A     127.0.0.20
mail.example.org.          A     127.0.0.10
example.org.               TXT   "v=spf1 ip4:127.0.0.10 -all"
_dmarc.example.org.        TXT   "v=DMARC1; p=none"

partner.example.           SOA   ns.partner.example. hostmaster.partner.example. 1 3600 600 86400 300
partner.example.           MX    10 mail.partner.example.
mail.partner.example.      A     127.0.0.30
partner.example.           TXT   "v=spf1 ip4:127.0.0.30 -all"
_dmarc.partner.example.    TXT   "v=DMARC1; p=reject"

bank.example.              SOA   ns.bank.example. hostmaster.bank.example. 1 3600 600 86400 300
bank.example.              MX    10 mx.bank.example.
mx.bank.example.           A     127.0.0.31
bank.example.              TXT   "v=spf1 ip4:127.0.0.31 -all"
_dmarc.bank.example.       TXT   "v=DMARC1; p=quarantine"

spammer.example.           SOA   ns.spammer.example. hostmaster.spammer.example. 1 3600 600 86400 300
spammer.example.           A     127.0.0.66
mail.spammer.example.      A     127.0.0.66
spammer.example.           TXT   "v=spf1 ip4:127.0.0.66 -all"

127.in-addr.arpa.          SOA   localhost. root.localhost. 1 3600 600 86400 300
`

// The partner's DKIM key is made once per run: RSA key generation is the
// slowest step of setting up a world.
var (
	keyOnce    sync.Once
	partnerKey *postfix.DKIMKey
	keyErr     error
)

func partnerDKIM(t *testing.T) *postfix.DKIMKey {
	t.Helper()
	keyOnce.Do(func() { partnerKey, keyErr = postfix.NewRSAKey("partner.example", "sel2025", 2048) })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return partnerKey
}

// world is one complete setup: DNS, the spoofguard daemon and an MTA
// (Postfix, or Sendmail) with the daemon as its milter.
type world struct {
	dns     *dnstest.Server
	partner *postfix.DKIMKey
	daemon  *postfix.Daemon
	mta     mta
	config  string // the daemon's configuration file
}

// worldOptions choose the daemon's mode, the milter transport and the MTA.
type worldOptions struct {
	mode     string // "enforce" or "report-only"
	unix     bool   // unix: socket instead of inet:
	sendmail bool   // Sendmail instead of Postfix
	relay    string // the filter's keys after its name (TOML lines); "": 127.0.0.20, one hop
	extra    string // appended to the daemon's configuration file
}

// newWorld starts DNS, the daemon and the MTA; t.Cleanup stops them all.
func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	w := &world{partner: partnerDKIM(t)}
	rec, err := w.partner.Record()
	if err != nil {
		t.Fatal(err)
	}
	w.dns = dnstest.New(t, zone)
	w.dns.MustAdd(t, rec)

	dir := t.TempDir()
	listen, group := w.milterAddr(t, socketParent(t, o, dir), o.unix)
	w.config = filepath.Join(dir, "spoofguard.toml")
	writeConfig(t, w.config, map[string]string{
		"Listen": listen, "AuthservID": authservID, "Mode": o.mode,
		"DNS": w.dns.Addr, "SocketGroup": group, "Relay": o.relay,
	})
	appendConfig(t, w.config, o.extra)
	w.daemon = postfix.StartDaemon(t, spoofguardBinary(t), w.config, listen)
	w.mta = startMTA(t, o.sendmail, listen)
	return w
}

// milterAddr picks where the daemon listens. A unix socket goes into a
// folder smtpd (user postfix) can enter, and the socket's group is set to
// postfix, as on a real system where the two run as different users.
func (w *world) milterAddr(t *testing.T, dir string, unix bool) (listen, group string) {
	if unix {
		sockDir := filepath.Join(dir, "milter")
		if err := os.Mkdir(sockDir, 0o755); err != nil {
			t.Fatal(err)
		}
		// t.TempDir's parents are private to root; smtpd must pass them.
		for d := sockDir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		return "unix:" + filepath.Join(sockDir, "milter.sock"), "postfix"
	}
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "inet:127.0.0.1:" + strconv.Itoa(port), ""
}

// writeConfig renders testdata/spoofguard.toml.tmpl.
func writeConfig(t *testing.T, path string, vars map[string]string) {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "spoofguard.toml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendConfig adds lines (tables of their own) to a configuration file.
func appendConfig(t *testing.T, path, extra string) {
	t.Helper()
	if extra == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + extra + "\n"); err != nil {
		t.Fatal(err)
	}
}
