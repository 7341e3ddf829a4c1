package config

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
	return keysOf("", reflect.TypeFor[Config]())
}

func keysOf(prefix string, t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := fieldTag(f)
		if tag == "" {
			continue
		}
		path := join(prefix, tag)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler) {
			keys = append(keys, keysOf(path, ft)...)
			continue
		}
		keys = append(keys, path)
	}
	return keys
}

// suggest returns a hint for an unknown key: a known key of the same
// table it is a likely misspelling or abbreviation of, or the table where
// a key of that name lives.
func suggest(table, key string, t reflect.Type) string {
	best, bestDist := "", 3 // at most two edits away
	for i := range t.NumField() {
		tag := fieldTag(t.Field(i))
		if tag == "" {
			continue
		}
		d := editDistance(key, tag, bestDist)
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
		parent, name := splitKey(k)
		if name == key && parent != "" {
			homes = append(homes, tableSyntax(parent))
		}
	}
	if len(homes) > 0 {
		return fmt.Sprintf("; %q belongs in %s", key, strings.Join(homes, " or "))
	}
	if table == "" {
		return "; the tables are " + strings.Join(tables(), ", ")
	}
	return ""
}

// tables lists the top-level tables as their headers are written.
func tables() []string {
	var out []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if tag := fieldTag(f); tag != "" {
			out = append(out, tableSyntax(tag))
		}
	}
	return out
}

func splitKey(k string) (parent, name string) {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return "", k
	}
	return k[:i], k[i+1:]
}

// tableSyntax writes a table path the way its header is written.
func tableSyntax(table string) string {
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if fieldTag(f) == table && f.Type.Kind() == reflect.Slice {
			return "[[" + table + "]]"
		}
	}
	return "[" + table + "]"
}

// editDistance is the Levenshtein distance between a and b, or limit
// when it is limit or more (keys are short; the limit keeps hostile
// input cheap).
func editDistance(a, b string, limit int) int {
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
