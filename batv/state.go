package batv

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// State remembers when each key first signed an envelope sender. Until
// signing has run for a whole tag lifetime, bounces of mail sent before it
// began still come back untagged, so an untagged bounce proves nothing;
// the start of signing must survive restarts, hence a file. Keys are
// named in it by a fingerprint, never by their secret.
//
// The file holds one line per key, "fingerprint RFC3339-time", and is
// replaced whole (written beside it, then renamed) so a crash never
// leaves half a line.
type State struct {
	path string

	mu    sync.Mutex
	first map[string]time.Time // fingerprint → first signing
	err   error                // the last failure to write, for logs and check
}

// OpenState reads the state file at path; a missing file is an empty
// state (signing never ran). An empty path keeps the state in memory only.
func OpenState(path string) (*State, error) {
	s := &State{path: path, first: map[string]time.Time{}}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("BATV state %s: %w", path, err)
	}
	return s, s.parse(b)
}

func (s *State) parse(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fp, when, ok := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(when))
		if !ok || err != nil {
			return fmt.Errorf("BATV state %s line %d: want \"fingerprint time\", got %q", s.path, n, line)
		}
		s.first[fp] = t
	}
	return sc.Err()
}

// Fingerprint names a key in the state file and in explanations: the
// first 16 hex digits of SHA-256 over the secret, so the file reveals
// nothing about the key.
func Fingerprint(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:8])
}

// Since is when the earliest of keys first signed; zero when none has.
// A key that signed once and still verifies keeps its bounces valid, so
// the earliest one counts.
func (s *State) Since(k *Keys) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var since time.Time
	for _, secret := range k.secrets {
		t, ok := s.first[Fingerprint(secret)]
		if ok && (since.IsZero() || t.Before(since)) {
			since = t
		}
	}
	return since
}

// Judging reports whether untagged bounces can be judged at now: some
// key of k has signed for at least a whole Lifetime.
func (s *State) Judging(k *Keys, now time.Time) bool {
	since := s.Since(k)
	return !since.IsZero() && !now.Before(since.Add(Lifetime*24*time.Hour))
}

// Signed records that the signing key of k signed at now, the first time
// it does; the file is written then and only then. A write failure is
// kept (Err) and the start stays in memory: the daemon goes on signing,
// and after a restart the window simply starts again, which errs on the
// side of delivering bounces.
func (s *State) Signed(k *Keys, now time.Time) {
	if k.Len() == 0 {
		return
	}
	fp := Fingerprint(k.secrets[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.first[fp]; ok {
		return
	}
	s.first[fp] = now.UTC().Truncate(time.Second)
	s.err = s.write()
}

// Err is the last error writing the state file, nil when all went well.
func (s *State) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// write replaces the file with the current state. Called with mu held.
func (s *State) write() error {
	if s.path == "" {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("# spoofguard: when each BATV key first signed (fingerprint, UTC time)\n")
	for fp, t := range s.first {
		fmt.Fprintf(&b, "%s %s\n", fp, t.UTC().Format(time.RFC3339))
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".batv-state-*")
	if err != nil {
		return fmt.Errorf("BATV state %s: %w", s.path, err)
	}
	_, err = tmp.Write(b.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("BATV state %s: %w", s.path, err)
	}
	return nil
}
