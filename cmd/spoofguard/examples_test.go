package main

// The shipped configuration files must load: every policy under examples/
// and the file the packages install. They are run through the same
// command an administrator types, `spoofguard config check -config FILE`.
// The MTA snippets, systemd units and policies are also checked against
// each other, so that an example never tells Postfix to connect where the
// daemon does not listen.

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// exRepoPath is the path of a file given relative to the repository root
// (tests run in cmd/spoofguard).
func exRepoPath(rel string) string {
	return filepath.Join("..", "..", filepath.FromSlash(rel))
}

func exRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(exRepoPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exShippedConfigs lists examples/**/*.toml and packaging/*.toml.
func exShippedConfigs(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(exRepoPath("examples"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".toml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := filepath.Glob(exRepoPath("packaging/*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return append(files, pkg...)
}

// exConfigCheck runs `spoofguard config check -config path`.
func exConfigCheck(path string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	// The file alone: the examples name directories (the Postfix spool)
	// that this host need not have.
	code = run([]string{"config", "check", "-host=false", "-config", path}, &out, &errs)
	return code, out.String(), errs.String()
}

func TestShippedConfigsLoad(t *testing.T) {
	files := exShippedConfigs(t)
	// The examples/spoofguard.toml of `make run`, three policies and the
	// packaged file at least: a glob that silently found nothing must fail.
	if len(files) < 5 {
		t.Fatalf("found only %d configuration files: %v", len(files), files)
	}
	for _, f := range files {
		name, _ := filepath.Rel(exRepoPath(""), f)
		t.Run(filepath.ToSlash(name), func(t *testing.T) {
			code, out, errs := exConfigCheck(f)
			if code != 0 || errs != "" {
				t.Fatalf("config check exited %d:\n%s", code, errs)
			}
			if !strings.Contains(out, ": OK (") {
				t.Errorf("unexpected output: %q", out)
			}
		})
	}
}

// TestConfigCheckReportsProblems makes sure the check above can fail: a
// bad file gives a non-zero exit and problems that name file, line and key.
func TestConfigCheckReportsProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	bad := "[milter]\nmode = \"report\"\n\n[dns]\ntimout = \"2s\"\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := exConfigCheck(path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{path + ":2: milter.mode: ", path + ":5: dns.timout: unknown key"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func exLoad(t *testing.T, rel string) *config.Config {
	t.Helper()
	cfg, err := config.LoadConfig(exRepoPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestMakeRunConfig: `make run` serves examples/spoofguard.toml, and the
// README promises the daemon on inet:127.0.0.1:8955 with it.
func TestMakeRunConfig(t *testing.T) {
	cfg := exLoad(t, "examples/spoofguard.toml")
	if cfg.Milter.Listen.String() != "inet:127.0.0.1:8955" {
		t.Errorf("milter.listen = %s, want inet:127.0.0.1:8955", cfg.Milter.Listen)
	}
	if len(cfg.Domains) == 0 {
		t.Error("the example protects no domain, so `make run` shows nothing")
	}
	makefile := exRead(t, "Makefile")
	if !strings.Contains(makefile, "CONFIG  ?= examples/spoofguard.toml") {
		t.Error("Makefile: make run no longer uses examples/spoofguard.toml")
	}
}

// TestPackagedConfigIsSafe: the installed file starts a daemon that
// protects nothing, listens where the Postfix example connects, and says
// so in its comments.
func TestPackagedConfigIsSafe(t *testing.T) {
	cfg := exLoad(t, "packaging/spoofguard.toml")
	if len(cfg.Domains) != 0 || len(cfg.Relays) != 0 {
		t.Errorf("packaged configuration has %d domains and %d relays; it must protect nothing until the administrator adds a domain", len(cfg.Domains), len(cfg.Relays))
	}
	if cfg.Milter.Listen != config.Default().Milter.Listen {
		t.Errorf("milter.listen = %s, want the default %s", cfg.Milter.Listen, config.Default().Milter.Listen)
	}
	if text := exRead(t, "packaging/spoofguard.toml"); !strings.Contains(text, "protects NOTHING") {
		t.Error("the packaged file's comments must say that it protects nothing")
	}
}

// exMainCFMilters returns the smtpd_milters values of a main.cf snippet,
// active lines first, then the commented-out alternatives.
func exMainCFMilters(text string) (active, alternatives []string) {
	re := regexp.MustCompile(`(?m)^(#?)smtpd_milters = (\S+?),?(?:\s|$)`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if m[1] == "" {
			active = append(active, m[2])
		} else {
			alternatives = append(alternatives, m[2])
		}
	}
	return active, alternatives
}

// TestMTASnippetsMatchDaemon: the Postfix and Sendmail examples, the
// systemd units and the policies agree on where the daemon listens.
func TestMTASnippetsMatchDaemon(t *testing.T) {
	def := config.Default().Milter.Listen.String() // inet:127.0.0.1:8955
	mainCF := exRead(t, "examples/postfix/main.cf")
	active, alt := exMainCFMilters(mainCF)
	if len(active) != 1 || active[0] != def {
		t.Errorf("examples/postfix/main.cf: active smtpd_milters %v, want [%s]", active, def)
	}

	// The unix alternative is relative to Postfix's queue directory and
	// must name the socket the chrooted-Postfix policy listens on, in the
	// directory the systemd drop-in opens.
	const spool = "/var/spool/postfix/"
	backend := exLoad(t, "examples/policies/backend-behind-filter.toml")
	sock, ok := strings.CutPrefix(backend.Milter.Listen.String(), "unix:"+spool)
	if !ok {
		t.Fatalf("backend policy listens on %s, want a unix socket under %s", backend.Milter.Listen, spool)
	}
	if !slices.Contains(alt, "unix:"+sock) {
		t.Errorf("examples/postfix/main.cf: no smtpd_milters alternative unix:%s (have %v)", sock, alt)
	}
	if backend.Milter.SocketGroup != "postfix" {
		t.Errorf("backend policy: socket_group = %q, want postfix", backend.Milter.SocketGroup)
	}
	dropIn := exRead(t, "examples/systemd/postfix-unix-socket.conf")
	dir := spool + filepath.Dir(sock)
	for _, want := range []string{"\nReadWritePaths=" + dir + "\n", "\nSupplementaryGroups=postfix\n", "install -d -o spoofguard -g postfix -m 0750 " + dir + "\n"} {
		if !strings.Contains(dropIn, want) {
			t.Errorf("examples/systemd/postfix-unix-socket.conf lacks %q", strings.TrimSpace(want))
		}
	}

	host, port, _ := strings.Cut(strings.TrimPrefix(def, "inet:"), ":")
	sendmail := exRead(t, "examples/sendmail/spoofguard.mc")
	if want := "INPUT_MAIL_FILTER(`spoofguard', `S=inet:" + port + "@" + host + ", F=T,"; !strings.Contains(sendmail, want) {
		t.Errorf("examples/sendmail/spoofguard.mc lacks %q", want)
	}
	socket := exRead(t, "packaging/spoofguard.socket")
	if want := "\nListenStream=" + host + ":" + port + "\n"; !strings.Contains(socket, want) {
		t.Errorf("packaging/spoofguard.socket lacks %q", strings.TrimSpace(want))
	}
}

// TestServiceUnit: the unit starts the installed binary on the default
// configuration file, as the user the packages create.
func TestServiceUnit(t *testing.T) {
	unit := exRead(t, "packaging/spoofguard.service")
	for _, want := range []string{
		"Type=notify",
		"ExecStart=/usr/sbin/spoofguard serve -config " + defaultConfig,
		"ExecReload=/bin/kill -HUP $MAINPID",
		"User=spoofguard",
		"Group=spoofguard",
		"CapabilityBoundingSet=\n",
		"ProtectSystem=strict",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service",
	} {
		if !strings.Contains(unit, "\n"+want) {
			t.Errorf("packaging/spoofguard.service lacks %q", strings.TrimSpace(want))
		}
	}
}
