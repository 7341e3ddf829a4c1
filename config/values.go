package config

import (
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Values of the daemon-only sections ([milter], [log]) that the file
// writes as strings and the daemon needs in another type.

// FileMode is file permissions, written in the file as an octal string
// ("0660") the way chmod takes them: TOML's own octal integers (0o660)
// are unknown to most administrators, and a bare 0660 is a syntax error.
type FileMode struct{ fs.FileMode }

// UnmarshalText parses three or four octal digits, at most 0777.
func (m *FileMode) UnmarshalText(text []byte) error {
	s := string(text)
	if !octalMode(s) {
		return fmt.Errorf("invalid permissions %s: want an octal string such as \"0660\"", quote(s))
	}
	n, _ := strconv.ParseUint(s, 8, 32)
	m.FileMode = fs.FileMode(n)
	return nil
}

// MarshalText writes the permissions in the form UnmarshalText reads.
func (m FileMode) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%04o", uint32(m.FileMode)), nil
}

// LogLevel is log.level: the least severe messages written.
type LogLevel struct{ slog.Level }

// logLevels are the names log.level accepts, lower case as the file
// writes them (slog's own parser would also take "INFO+2" and the like).
var logLevels = []string{"debug", "info", "warn", "error"}

// UnmarshalText accepts one of logLevels.
func (l *LogLevel) UnmarshalText(text []byte) error {
	s := string(text)
	if !slices.Contains(logLevels, s) {
		return fmt.Errorf("unknown log level %s: want %s", quote(s), joinChoices(quoteAll(logLevels)))
	}
	return l.Level.UnmarshalText(text)
}

// MarshalText writes the level the way UnmarshalText reads it.
func (l LogLevel) MarshalText() ([]byte, error) {
	return []byte(strings.ToLower(l.Level.String())), nil
}
