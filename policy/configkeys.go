package policy

import (
	"fmt"
	"reflect"
	"strings"
)

// ConfigKeys returns every key path the file accepts, in the order of the
// Config type ("milter.listen", ..., "relay.hops", "domain.via", ...).
// Keys of arrays of tables are written without an index. Documentation is
// tested against this list, so a key cannot be added silently.
func ConfigKeys() []string {
	return cfgKeysOf("", reflect.TypeFor[Config]())
}

func cfgKeysOf(prefix string, t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := cfgTag(f)
		if tag == "" {
			continue
		}
		path := cfgJoin(prefix, tag)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(cfgTextUnmarshaler) {
			keys = append(keys, cfgKeysOf(path, ft)...)
			continue
		}
		keys = append(keys, path)
	}
	return keys
}

// cfgSuggest returns a hint for an unknown key: a known key of the same
// table it is a likely misspelling or abbreviation of, or the table where
// a key of that name lives.
func cfgSuggest(table, key string, t reflect.Type) string {
	best, bestDist := "", 3 // at most two edits away
	for i := range t.NumField() {
		tag := cfgTag(t.Field(i))
		if tag == "" {
			continue
		}
		d := cfgEditDistance(key, tag, bestDist)
		if len(key) >= 4 && strings.HasPrefix(tag, key) { // "cache" for "cache_size"
			d = min(d, 2)
		}
		if d < bestDist {
			best, bestDist = tag, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	var homes []string
	for _, k := range ConfigKeys() {
		parent, name := cfgSplitKey(k)
		if name == key && parent != "" {
			homes = append(homes, cfgTableSyntax(parent))
		}
	}
	if len(homes) > 0 {
		return fmt.Sprintf("; %q belongs in %s", key, strings.Join(homes, " or "))
	}
	if table == "" {
		return "; the tables are " + strings.Join(cfgTables(), ", ")
	}
	return ""
}

// cfgTables lists the top-level tables as their headers are written.
func cfgTables() []string {
	var out []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if tag := cfgTag(f); tag != "" {
			out = append(out, cfgTableSyntax(tag))
		}
	}
	return out
}

func cfgSplitKey(k string) (parent, name string) {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return "", k
	}
	return k[:i], k[i+1:]
}

// cfgTableSyntax writes a table path the way its header is written.
func cfgTableSyntax(table string) string {
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if cfgTag(f) == table && f.Type.Kind() == reflect.Slice {
			return "[[" + table + "]]"
		}
	}
	return "[" + table + "]"
}

// cfgEditDistance is the Levenshtein distance between a and b, or limit
// when it is limit or more (keys are short; the limit keeps hostile
// input cheap).
func cfgEditDistance(a, b string, limit int) int {
	if len(a) > 64 || len(b) > 64 {
		return limit
	}
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
