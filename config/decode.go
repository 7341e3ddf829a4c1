package config

// Decoding in two passes, so that every problem is found at once:
//
//  1. go-toml parses the whole document into generic maps (this is where
//     TOML syntax errors stop everything), and go-toml's unstable parser
//     walks the same document to note the line of every key path.
//  2. A reflection-driven decoder fills Config field by field from the
//     maps. A wrong type or a bad value becomes a Problem for that key and
//     decoding goes on with the next one; go-toml's own Decode would stop
//     at the first.

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// position is where a key path was written.
type position struct{ line, col int }

// maxDepth bounds the key paths whose positions are noted. The deepest
// path the schema has is "relay[0].networks[1]" (3 parts); deeper
// values are refused as a whole by their first unknown or mistyped part,
// so noting them would only cost memory on hostile input.
const maxDepth = 4

// positions maps key paths ("dns.timeout", "domain[1].via",
// "networks.trusted[2]") to where they appear in a document that go-toml
// has already accepted.
func positions(data []byte) map[string]position {
	w := walker{pos: map[string]position{}, arrays: map[string]int{}}
	w.p.Reset(data)
	for i, b := range data {
		if b == '\n' {
			w.lines = append(w.lines, i+1)
		}
	}
	for w.p.NextExpression() {
		w.expression(w.p.Expression())
	}
	return w.pos
}

// walker tracks the table that keys belong to while walking the
// document's expressions in order.
type walker struct {
	p      unstable.Parser
	lines  []int // offsets where lines 2, 3, ... start
	pos    map[string]position
	arrays map[string]int // array-of-tables path → elements seen so far
	table  string         // path of the current [table] or [[array]] element
	deep   bool           // the current table is deeper than any key of the schema
}

func (w *walker) expression(n *unstable.Node) {
	switch n.Kind {
	case unstable.Table:
		parts, first := w.key(n)
		w.table, w.deep = w.resolve(parts, first)
	case unstable.ArrayTable:
		parts, first := w.key(n)
		if len(parts) > maxDepth {
			w.resolve(parts, first)
			w.table, w.deep = "", true
			return
		}
		parent, _ := w.resolve(parts[:len(parts)-1], first)
		base := join(parent, parts[len(parts)-1])
		w.mark(base, first)
		w.table, w.deep = index(base, w.arrays[base]), false
		w.arrays[base]++
		w.mark(w.table, first)
	case unstable.KeyValue:
		if !w.deep {
			w.keyValue(w.table, n, 1)
		}
	}
}

// keyValue notes the position of "key = value" under prefix, and of the
// keys and elements inside the value.
func (w *walker) keyValue(prefix string, n *unstable.Node, depth int) {
	parts, first := w.key(n)
	path := prefix
	for _, part := range parts {
		if depth > maxDepth {
			return
		}
		path = join(path, part)
		w.mark(path, first)
		depth++
	}
	w.value(path, n.Value(), depth)
}

func (w *walker) value(path string, v *unstable.Node, depth int) {
	if depth > maxDepth {
		return
	}
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				w.keyValue(path, kv, depth)
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			el := it.Node()
			if el.Kind == unstable.Comment {
				continue
			}
			elPath := index(path, i)
			i++
			if el.Raw.Length > 0 {
				w.mark(elPath, el)
			} else if p, ok := w.pos[path]; ok { // nested arrays carry no range
				w.pos[elPath] = p
			}
			w.value(elPath, el, depth+1)
		}
	}
}

// key returns the parts of a node's dotted key and the node of the first.
func (w *walker) key(n *unstable.Node) ([]string, *unstable.Node) {
	var parts []string
	var first *unstable.Node
	for it := n.Key(); it.Next(); {
		if first == nil {
			first = it.Node()
		}
		parts = append(parts, string(it.Node().Data))
	}
	return parts, first
}

// resolve turns the parts of a table header into a path, descending into
// the last element of any array of tables on the way, as TOML does, and
// notes where each part was first written. Beyond maxDepth parts it
// stops (deep reports that): nothing that deep is in the schema, and
// building ever longer paths would take quadratic time.
func (w *walker) resolve(parts []string, first *unstable.Node) (path string, deep bool) {
	for i, part := range parts {
		if i == maxDepth {
			return path, true
		}
		path = join(path, part)
		if n, ok := w.arrays[path]; ok {
			path = index(path, n-1)
		}
		w.mark(path, first)
	}
	return path, false
}

// mark notes where path first appears.
func (w *walker) mark(path string, n *unstable.Node) {
	if _, ok := w.pos[path]; ok || n == nil {
		return
	}
	off := int(n.Raw.Offset)
	line := sort.SearchInts(w.lines, off+1) // lines starting at or before off
	start := 0
	if line > 0 {
		start = w.lines[line-1]
	}
	w.pos[path] = position{line: line + 1, col: off - start + 1}
}

// join appends a key to a path, quoting it when it is not a bare TOML
// key, so that "a.b" written as one quoted key cannot pose as a path.
func join(prefix, key string) string {
	if !bareKey(key) {
		key = strconv.Quote(key)
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func bareKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parentPath strips the last key or index from a path ("" at the top).
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	// A quoted last key may contain dots; it starts after the last '.'
	// outside quotes, which for the keys the walker builds is the last
	// '.' before the final quoted part.
	if strings.HasSuffix(path, `"`) {
		if i := strings.LastIndex(path, `."`); i >= 0 {
			return path[:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// decoder fills a Config from the generic document and collects the
// problems of decoding and, later, of validation.
type decoder struct {
	file     string
	pos      map[string]position
	problems []Problem
	failed   map[string]bool // paths whose value could not be decoded
	reported map[string]bool // paths with a problem already
}

func newDecoder(file string, data []byte) *decoder {
	return &decoder{file: file, pos: positions(data),
		failed: map[string]bool{}, reported: map[string]bool{}}
}

// fail records a value that could not be decoded. The key keeps its
// default, and checking that default would only repeat the news in a more
// confusing way, so validation stays quiet about it and everything under
// it.
func (d *decoder) fail(path, format string, args ...any) {
	d.report(path, format, args...)
	d.failed[path] = true
}

// report records a problem at path: at most one per path, and none below
// a path that failed to decode.
func (d *decoder) report(path, format string, args ...any) {
	if d.reported[path] {
		return
	}
	for p := path; p != ""; p = parentPath(p) {
		if d.failed[p] {
			return
		}
	}
	d.reported[path] = true
	d.problems = append(d.problems, Problem{
		File: d.file,
		Line: d.line(path),
		Key:  path,
		Msg:  fmt.Sprintf(format, args...),
	})
}

// line is where path was written, or where its nearest written parent
// was (a missing required key is reported at its table's header).
func (d *decoder) line(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := d.pos[p]; ok {
			return pos.line
		}
	}
	return 0
}

func (d *decoder) err() *ConfigError {
	// By line, then by column, so that several problems on one line
	// (elements of an array) come in the order they were written.
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return d.pos[a.Key].col - d.pos[b.Key].col
	})
	return &ConfigError{Problems: d.problems}
}

// decodeStruct decodes a TOML table into the struct v points to, by the
// fields' toml tags. Unknown keys are problems, with a hint when the key
// looks like a misspelling or belongs in another table.
func (d *decoder) decodeStruct(path string, m map[string]any, v any) {
	d.decodeTable(path, m, reflect.ValueOf(v).Elem())
}

func (d *decoder) decodeTable(path string, m map[string]any, v reflect.Value) {
	fields := fields(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := join(path, k)
		i, ok := fields[k]
		if !ok {
			what := "key"
			if _, table := m[k].(map[string]any); table {
				what = "table"
			}
			d.fail(p, "unknown %s%s", what, suggest(path, k, v.Type()))
			continue
		}
		d.decodeValue(p, m[k], v.Field(i))
	}
}

// fields maps the toml tags of a struct type to field indexes.
func fields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		if tag := fieldTag(t.Field(i)); tag != "" {
			fields[tag] = i
		}
	}
	return fields
}

func fieldTag(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decodeValue stores raw (a value of go-toml's generic decoding) into v.
func (d *decoder) decodeValue(path string, raw any, v reflect.Value) {
	if reflect.PointerTo(v.Type()).Implements(textUnmarshaler) {
		d.decodeText(path, raw, v)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := raw.(string); ok {
			v.SetString(s)
			return
		}
	case reflect.Int:
		if n, ok := raw.(int64); ok {
			if int64(int(n)) != n {
				d.fail(path, "%d is out of range", n)
			} else {
				v.SetInt(n)
			}
			return
		}
	case reflect.Bool:
		if b, ok := raw.(bool); ok {
			v.SetBool(b)
			return
		}
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		n := len(d.problems)
		if d.decodeValue(path, raw, e.Elem()); len(d.problems) == n {
			v.Set(e)
		}
		return
	case reflect.Slice:
		if a, ok := raw.([]any); ok {
			d.decodeSlice(path, a, v)
			return
		}
	case reflect.Struct:
		if m, ok := raw.(map[string]any); ok {
			d.decodeTable(path, m, v)
			return
		}
	}
	d.fail(path, "expected %s, got %s", want(v.Type(), path), describe(raw))
}

func (d *decoder) decodeText(path string, raw any, v reflect.Value) {
	s, ok := raw.(string)
	if !ok {
		d.fail(path, "expected %s, got %s", want(v.Type(), path), describe(raw))
		return
	}
	u := v.Addr().Interface().(encoding.TextUnmarshaler)
	if err := u.UnmarshalText([]byte(s)); err != nil {
		d.fail(path, "%v", err)
	}
}

// maxElements bounds every array. Real lists are short; the bound
// keeps the cross-checks between lists (relays against trusted networks,
// say) cheap on hostile input.
const maxElements = 10000

// decodeSlice decodes every element, keeping the ones that fail (with
// their defaults) so that indexes in later messages match the file.
func (d *decoder) decodeSlice(path string, a []any, v reflect.Value) {
	if len(a) == 0 {
		v.SetZero()
		return
	}
	if len(a) > maxElements {
		d.fail(path, "%d entries are too many; at most %d", len(a), maxElements)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(a), len(a))
	for i, raw := range a {
		el := out.Index(i)
		el.Set(elementDefault(el.Type()))
		d.decodeValue(index(path, i), raw, el)
	}
	v.Set(out)
}

// elementDefault is the value an array element starts from: tables of
// an array ([[relay]], [[domain]]) have defaults of their own.
func elementDefault(t reflect.Type) reflect.Value {
	switch t {
	case reflect.TypeFor[RelayConfig]():
		return reflect.ValueOf(defaultRelay())
	case reflect.TypeFor[DomainConfig]():
		return reflect.ValueOf(defaultDomain())
	}
	return reflect.Zero(t)
}

// want describes the type a key needs, in the file's terms.
func want(t reflect.Type, path string) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return `a duration string such as "2s"`
	case reflect.TypeFor[Network]():
		return `a network string such as "192.0.2.0/24"`
	case reflect.TypeFor[Listen](), reflect.TypeFor[FileMode](), reflect.TypeFor[LogLevel]():
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return want(t.Elem(), path)
	case reflect.Slice:
		switch t.Elem() {
		case reflect.TypeFor[Network]():
			return `an array of networks such as ["192.0.2.0/24"]`
		case reflect.TypeFor[string]():
			return "an array of strings"
		}
		return fmt.Sprintf("an array of tables ([[%s]])", path)
	case reflect.Struct:
		if strings.HasSuffix(path, "]") {
			return "a table"
		}
		return fmt.Sprintf("a table ([%s])", path)
	}
	return t.String()
}

// describe names a generic TOML value for a message, short enough for
// one line whatever the input.
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		return "string " + quote(x)
	case int64:
		return "integer " + strconv.FormatInt(x, 10)
	case float64:
		return "float " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return "a date/time"
	}
	return fmt.Sprintf("%T", raw)
}

// quote quotes a value from the file for a message, cut to a length
// that keeps the message on one readable line.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}
