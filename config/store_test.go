package config

import (
	"strings"
	"testing"
	"time"
)

func TestStoreDefaults(t *testing.T) {
	s := mustParse(t, "").Store
	if !s.On() || s.URL != "" || s.Path != "/var/lib/spoofguard/spoofguard.db" || s.Keep.Duration != 30*24*time.Hour ||
		s.MaxRows != 2000000 || s.Queue != 10000 {
		t.Fatalf("defaults %+v", s)
	}
	s = mustParse(t, "[store]\nenabled = false\nurl = \"postgres://u:p@127.0.0.1/x\"\nkeep = \"2w\"\n").Store
	if s.On() || s.Keep.Duration != 14*24*time.Hour || s.URL == "" {
		t.Fatalf("parsed %+v", s)
	}
}

func TestStoreRefused(t *testing.T) {
	for text, want := range map[string]string{
		`url = "mysql://db/x"`:             `store.url: store url: scheme "mysql"`,
		`url = "postgres:///x"`:            "store.url: store url: no host",
		`path = "spoofguard.db"`:           "store.path: \"spoofguard.db\": want an absolute path",
		`keep = "30"`:                      `store.keep: invalid period "30"`,
		`keep = "10m"`:                     "store.keep: 10m0s is too short",
		`max_rows = 10`:                    "store.max_rows: 10: at least 1000",
		`queue = 0`:                        "store.queue",
		`url = "postgres://u:secret@[::1"`: "store.url",
	} {
		_, err := ParseConfig("t.toml", []byte("[store]\n"+text+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", text, err, want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", text, err)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for s, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "1w": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParsePeriod(s); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "d", "-1d", "7days", "-2h", "1.5d"} {
		if _, err := ParsePeriod(s); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", s)
		}
	}
}
