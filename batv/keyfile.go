package batv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MinKeyBytes is the least secret a key file must hold. Fewer bytes would
// let a forger who collects tags guess the key offline.
const MinKeyBytes = 16

// ErrKeyMode is returned for a key file that others than its owner may
// read: the key signs every envelope sender, so anyone who can read it
// can make bounces pass.
var ErrKeyMode = errors.New("readable by group or others (chmod 600)")

// LoadKeyFile reads one key. The file's content without surrounding white
// space is the secret (a generated key is 64 hex digits and a newline).
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("BATV key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("BATV key %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("BATV key %s: mode %04o %w", path, fi.Mode().Perm(), ErrKeyMode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("BATV key %s: %w", path, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinKeyBytes {
		return nil, fmt.Errorf("BATV key %s: %d bytes of key, need at least %d (make one with `spoofguard batv-key %s`)", path, len(b), MinKeyBytes, path)
	}
	return b, nil
}

// LoadKeys reads every key file, the signing key first. The daemon gets
// its keys through the configuration; this is the same for tools and
// tests that start from the paths.
func LoadKeys(paths []string) (*Keys, error) {
	secrets := make([][]byte, 0, len(paths))
	for _, p := range paths {
		s, err := LoadKeyFile(p)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, s)
	}
	return NewKeys(secrets, paths), nil
}

// WriteNewKey creates path with a fresh random key (32 bytes, written as
// hex) and mode 0600. It never overwrites an existing file: replacing a
// key in use would turn every bounce in flight into backscatter.
func WriteNewKey(path string) error {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fileMode is the mode of a new key: read and write for its owner only,
// the daemon's account.
const fileMode fs.FileMode = 0o600
