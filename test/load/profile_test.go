//go:build load

package load

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/milter"
	"github.com/spoofguard/spoofguard/test/postfix"
)

var (
	flagProfile    = flag.String("load.profile", "", "TestProfile: write the CPU profile of the daemon under load to this file")
	flagProfileMem = flag.String("load.memprofile", "", "TestProfile: write an allocation profile (every allocation sampled) to this file")
	flagProfileN   = flag.Int("load.profile-messages", 5000, "TestProfile: messages to send")
	flagProfileC   = flag.Int("load.profile-sessions", 20, "TestProfile: parallel sessions")
	flagProfileKA  = flag.Bool("load.profile-keepalive", false, "TestProfile: send every session's messages over one connection")
)

// TestProfile runs the daemon inside the test process — the same package
// the binary runs, so that it can be profiled — behind Postfix over inet:,
// and writes its CPU profile while smtp-source sends -load.profile-messages
// messages. Without -load.profile it only checks that every message was
// accepted. The profile covers the whole process; smtp-source and Postfix
// are separate processes and do not show in it.
func TestProfile(t *testing.T) {
	w := newWorld(t, 300)
	file := w.sourceFile(t, "partner-4k.eml", w.partnerMessage(t, 4<<10))
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{vars: map[string]string{"Listen": "inet:127.0.0.1:" + strconv.Itoa(port), "Metrics": "",
		"DNS": w.dns.Addr, "Drain": "5s", "CacheSize": "20000"}}
	cfg := w.dir + "/profile.toml"
	if err := os.WriteFile(cfg, d.render(t, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	sg, err := milter.New(milter.Options{ConfigPath: cfg, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sg.Shutdown)
	mta := startPostfix(t, d.Listen())
	s := &setup{name: "in-process inet", mta: mta}
	s.measure(t, file, 10, 200) // warm up

	if *flagProfile != "" {
		f, err := os.Create(*flagProfile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
	}
	if *flagProfileMem != "" {
		runtime.MemProfileRate = 1
	}
	start, cpu0 := time.Now(), processCPU()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := mta.RunSource(ctx, postfix.Source{Sessions: *flagProfileC, Messages: *flagProfileN, File: file,
		From: "news@partner.example", To: rcpt, Helo: clientHelo, KeepOpen: *flagProfileKA,
		Client: clientIP, Shim: bindShim(t)})
	if *flagProfile != "" {
		pprof.StopCPUProfile()
	}
	if *flagProfileMem != "" {
		f, err := os.Create(*flagProfileMem)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected+res.TempFailed > 0 {
		t.Errorf("refusals: %v", res.Refusals)
	}
	t.Logf("%d messages over %d sessions in %v (%.0f msgs/s); daemon CPU %.0f µs/msg",
		*flagProfileN, *flagProfileC, res.Elapsed.Round(time.Millisecond),
		float64(*flagProfileN)/time.Since(start).Seconds(), perMsg(processCPU()-cpu0, *flagProfileN))
	if got := sg.Metrics(); got == nil {
		t.Fatal("no metrics")
	}
}

// processCPU is the user+system time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
