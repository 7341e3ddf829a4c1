package config

import (
	"path"
	"path/filepath"
	"strings"

	"github.com/spoofguard/spoofguard/batv"
)

// BackscatterConfig is the [backscatter] table: BATV signing of own
// envelope senders, and what happens to bounces that are not ours.
type BackscatterConfig struct {
	Keys    []string `toml:"keys"`    // key files: the first signs, all verify; none: BATV off
	Action  Action   `toml:"action"`  // a bounce to a protected address without a valid tag
	State   string   `toml:"state"`   // when each key first signed: the start-up window
	Exclude []string `toml:"exclude"` // envelope senders never rewritten: "list-owner@d", "*-bounces@d", "@d"

	secrets [][]byte // the keys' contents, read by validation
}

// DefaultBATVState is where the daemon records when signing began.
const DefaultBATVState = "/var/lib/spoofguard/batv.state"

// Secrets returns the contents of the key files, in the order of Keys.
// They are read when the configuration is loaded, so a key the daemon
// cannot use stops it at start (or fails the reload), never later.
func (b *BackscatterConfig) Secrets() [][]byte { return b.secrets }

// backscatter checks [backscatter] and the per-domain keys of the rule.
// A key file must exist, hold a key and be readable by its owner alone
// (batv.LoadKeyFile): the key signs every envelope sender, and whoever
// can read it can make backscatter pass.
func (v *checker) backscatter() {
	b := &v.c.Backscatter
	v.action("backscatter.action", b.Action, nil)
	b.secrets = nil
	for i, p := range b.Keys {
		if !filepath.IsAbs(p) {
			v.report(index("backscatter.keys", i), "%s: a key file needs an absolute path", quote(p))
			continue
		}
		secret, err := batv.LoadKeyFile(p)
		if err != nil {
			v.report(index("backscatter.keys", i), "%v", err)
			continue
		}
		b.secrets = append(b.secrets, secret)
	}
	if b.State != "" && !filepath.IsAbs(b.State) {
		v.report("backscatter.state", "%s: the state file needs an absolute path", quote(b.State))
	}
	v.backscatterExclude(b)
	for i := range v.c.Domains {
		if a := v.c.Domains[i].Backscatter; a != "" {
			v.action(index("domain", i)+".backscatter", a, nil)
		}
	}
}

// backscatterExclude lower-cases the patterns and refuses broken globs.
func (v *checker) backscatterExclude(b *BackscatterConfig) {
	for i, p := range b.Exclude {
		p = strings.ToLower(strings.TrimSpace(p))
		b.Exclude[i] = p
		if _, err := path.Match(p, ""); err != nil || p == "" || p == "@" {
			v.report(index("backscatter.exclude", i), "%s is not an address, a pattern such as \"*-bounces@example.org\", or \"@domain\"", quote(p))
		}
	}
}
