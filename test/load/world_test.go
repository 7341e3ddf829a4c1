//go:build load

package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/test/postfix"
)

// The cast, all on loopback. 127.0.0.1 is trusted by Postfix
// (mynetworks) and by spoofguard; the load comes from 127.0.0.30, the
// partner's mail server, which neither trusts. smtp-source is made to
// connect from it by the shim of postfix.BuildBindShim.
const (
	clientIP   = "127.0.0.30"
	clientHelo = "mail.partner.example"
	rcpt       = "user@example.org"
	authservID = "mx.example.org"
)

// zone is the DNS of the load world; TTL is the records' time to live.
const zone = `
example.org.             {{.TTL}} IN SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 {{.TTL}}
example.org.             {{.TTL}} IN MX  10 mx.example.org.
mx.example.org.          {{.TTL}} IN A   127.0.0.1
example.org.             {{.TTL}} IN TXT "v=spf1 ip4:127.0.0.10 -all"
_dmarc.example.org.      {{.TTL}} IN TXT "v=DMARC1; p=reject"

partner.example.         {{.TTL}} IN SOA ns.partner.example. hostmaster.partner.example. 1 3600 600 86400 {{.TTL}}
partner.example.         {{.TTL}} IN MX  10 mail.partner.example.
mail.partner.example.    {{.TTL}} IN A   127.0.0.30
partner.example.         {{.TTL}} IN TXT "v=spf1 ip4:127.0.0.30 -all"
_dmarc.partner.example.  {{.TTL}} IN TXT "v=DMARC1; p=reject"

bank.example.            {{.TTL}} IN SOA ns.bank.example. hostmaster.bank.example. 1 3600 600 86400 {{.TTL}}
bank.example.            {{.TTL}} IN TXT "v=spf1 ip4:127.0.0.31 -all"
_dmarc.bank.example.     {{.TTL}} IN TXT "v=DMARC1; p=quarantine"

spammer.example.         {{.TTL}} IN SOA ns.spammer.example. hostmaster.spammer.example. 1 3600 600 86400 {{.TTL}}
spammer.example.         {{.TTL}} IN TXT "v=spf1 ip4:127.0.0.30 -all"
`

// postfixExtra makes a private Postfix fit for load: one client may open
// hundreds of sessions, and big messages fit. None of these settings is
// in the harness's main.cf already: an overridden entry makes every
// Postfix process log a warning as it starts, and postlogd, which logs
// its own warnings to itself, can deadlock on a full log socket.
var postfixExtra = []string{
	"smtpd_client_connection_count_limit = 0",
	"default_process_limit = 400",
	"message_size_limit = 104857600",
	"virtual_mailbox_limit = 209715200",
}

// The partner's DKIM key is made once per run.
var (
	keyOnce    sync.Once
	partnerKey *postfix.DKIMKey
	keyErr     error
)

// world is DNS, the partner's key and the test messages.
type world struct {
	dns *dnstest.Server
	key *postfix.DKIMKey
	dir string
}

// newWorld starts the DNS server with records that live ttl seconds.
func newWorld(t *testing.T, ttl int) *world {
	t.Helper()
	keyOnce.Do(func() { partnerKey, keyErr = postfix.NewRSAKey("partner.example", "sel2025", 2048) })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	var z bytes.Buffer
	template.Must(template.New("zone").Parse(zone)).Execute(&z, map[string]int{"TTL": ttl})
	w := &world{key: partnerKey, dir: t.TempDir()}
	// Postfix's daemons (user postfix) read messages and sockets here.
	for d := w.dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	w.dns = dnstest.New(t, z.String())
	rec, err := w.key.Record()
	if err != nil {
		t.Fatal(err)
	}
	w.dns.MustAdd(t, strings.Replace(rec, " 300 IN ", " "+strconv.Itoa(ttl)+" IN ", 1))
	return w
}

// partnerMessage is a message from news@partner.example with a body of
// about size bytes, DKIM-signed (RSA-2048, relaxed/relaxed), CRLF ends.
func (w *world) partnerMessage(t *testing.T, size int) []byte {
	t.Helper()
	line := "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghij.\n"
	body := strings.Repeat(line, size/len(line)+1)[:size]
	msg := postfix.Message{From: "Partner News <news@partner.example>", To: rcpt,
		Subject: "load", MessageID: postfix.NewMessageID("partner.example"), Body: body}
	signed, err := w.key.Sign(msg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// sourceFile writes a message for smtp-source, which wants LF line ends.
func (w *world) sourceFile(t *testing.T, name string, msg []byte) string {
	t.Helper()
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemon is a running spoofguard with its metrics endpoint and log file.
type daemon struct {
	*postfix.Daemon
	config  string
	metrics string // host:port
	log     string // path of the log file
	vars    map[string]string
}

type daemonOptions struct {
	unix  bool
	drain string // milter.drain_timeout; default 30s
	store string // the [store] table; default none (the state directory's file, when it exists)
}

// startDaemon writes a configuration and starts the spoofguard binary
// with it, logging to a file in the world's folder.
func (w *world) startDaemon(t *testing.T, name string, o daemonOptions) *daemon {
	t.Helper()
	if o.drain == "" {
		o.drain = "30s"
	}
	mport, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{
		config:  filepath.Join(w.dir, name+".toml"),
		metrics: "127.0.0.1:" + strconv.Itoa(mport),
		log:     filepath.Join(w.dir, name+".log"),
	}
	d.vars = map[string]string{"Metrics": d.metrics, "DNS": w.dns.Addr, "Drain": o.drain,
		"CacheSize": "20000", // the hardening run's reloads change it
		"Store":     o.store}
	if o.unix {
		sockDir := filepath.Join(w.dir, name+"-sock")
		if err := os.Mkdir(sockDir, 0o755); err != nil {
			t.Fatal(err)
		}
		d.vars["Listen"] = "unix:" + filepath.Join(sockDir, "milter.sock")
		d.vars["SocketGroup"] = "postfix"
	} else {
		port, err := postfix.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		d.vars["Listen"] = "inet:127.0.0.1:" + strconv.Itoa(port)
	}
	if err := os.WriteFile(d.config, d.render(t, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d.Daemon = postfix.StartDaemonOutput(t, spoofguardBinary(t), d.config, d.vars["Listen"], f)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spoofguard log %s, last lines:\n%s", d.log, tail(d.log, 40))
		}
	})
	return d
}

// render is the daemon's configuration with some settings changed.
func (d *daemon) render(t *testing.T, change map[string]string) []byte {
	t.Helper()
	vars := map[string]string{}
	for k, v := range d.vars {
		vars[k] = v
	}
	for k, v := range change {
		vars[k] = v
	}
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "spoofguard.toml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Listen is the milter address for smtpd_milters.
func (d *daemon) Listen() string { return d.vars["Listen"] }

// scrape reads the daemon's metrics: sample (name with labels) → value.
func (d *daemon) scrape() (map[string]float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sum adds the samples of a metric whose labels contain every one of
// labels (e.g. `action="accept"`).
func sum(samples map[string]float64, name string, labels ...string) float64 {
	total := 0.0
next:
	for k, v := range samples {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(k, l) {
				continue next
			}
		}
		total += v
	}
	return total
}

// countLog counts the daemon's log lines that contain every one of parts.
func (d *daemon) countLog(t *testing.T, parts ...string) int {
	t.Helper()
	f, err := os.Open(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
next:
	for sc.Scan() {
		for _, p := range parts {
			if !strings.Contains(sc.Text(), p) {
				continue next
			}
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Size() > 64<<10 {
		f.Seek(-64<<10, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startPostfix starts a private Postfix for example.org with the given
// milter ("" for none) and the load settings.
func startPostfix(t *testing.T, milter string, extra ...string) *postfix.Instance {
	t.Helper()
	cfg := postfix.Config{Hostname: authservID, Domains: []string{"example.org"},
		Extra: append(append([]string{}, postfixExtra...), extra...)}
	if milter != "" {
		cfg.Milters = []string{milter}
	}
	return postfix.Start(t, cfg)
}

// loadAvg is the first field of /proc/loadavg: the machine's load over
// the last minute, other tenants included.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// machineBusy is the CPU time all processors have spent busy since boot
// (/proc/stat: everything but idle and iowait).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 {
			continue // idle, iowait; guest time is already in user
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// median of a non-empty list.
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// quantile of durations by the nearest-rank method.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// checkDelivered reads one delivered message and checks that spoofguard
// evaluated SPF, DKIM and DMARC on it and all passed.
func checkDelivered(t *testing.T, p *postfix.Instance) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(p.MailDir, "*", "new", "*"))
	if len(paths) == 0 {
		t.Errorf("no delivered message in %s", p.MailDir)
		return
	}
	raw, err := os.ReadFile(paths[len(paths)-1])
	if err != nil {
		t.Fatal(err)
	}
	d, err := postfix.ParseDelivered(paths[0], raw)
	if err != nil {
		t.Fatal(err)
	}
	ar := d.Get("Authentication-Results")
	if !strings.HasPrefix(ar, authservID+" ") && !strings.HasPrefix(ar, authservID+";") {
		t.Errorf("delivered message's first Authentication-Results %q is not spoofguard's (%s)", ar, authservID)
	}
	for _, want := range []string{"spf=pass", "dkim=pass", "header.d=partner.example", "dmarc=pass"} {
		if !strings.Contains(ar, want) {
			t.Errorf("delivered message's Authentication-Results %q lacks %q", ar, want)
		}
	}
	if v := d.Get("X-Spoofguard"); !strings.HasPrefix(v, "accept") {
		t.Errorf("delivered message's verdict header %q, want accept", v)
	}
}

// stageQuantile reads a quantile of a stage's duration off the daemon's
// histogram: the upper bound of the bucket it falls in ("+Inf" beyond).
func stageQuantile(m map[string]float64, stage string, q float64) string {
	prefix := `spoofguard_stage_duration_seconds_bucket{stage="` + stage + `",le="`
	type bucket struct {
		le  float64
		cum float64
	}
	var bs []bucket
	for k, v := range m {
		le, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64)
		if err != nil {
			continue // +Inf
		}
		bs = append(bs, bucket{bound, v})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	count := m[`spoofguard_stage_duration_seconds_count{stage="`+stage+`"}`]
	for _, b := range bs {
		if b.cum >= q*count {
			return fmt.Sprintf("≤ %g ms", b.le*1000)
		}
	}
	return "+Inf"
}
