package impersonation

import "unicode/utf8"

// deletes is a symmetric-delete index (the idea behind SymSpell): every
// string that a stored key becomes by deleting up to its edit budget of
// characters points back to the key. Two strings within edit distance d
// of each other share such a variant (a transposition of neighbours too:
// deleting either letter from both sides meets), so a query derives its
// own variants and probes the map. The cost grows with the length of the
// query, never with the number of protected names; candidates found are
// confirmed with the real distance.
type deletes struct {
	m map[string][]int32
	// budgets[n] is the largest edit budget of a stored key of n runes:
	// a query probes only as deep as a key of a nearby length needs.
	budgets [maxKeyRunes + 1]int8
}

// maxKeyRunes bounds the keys stored and queried: a DNS label has at
// most 63 octets, and its key is rarely longer.
const maxKeyRunes = 80

func newDeletes() deletes {
	return deletes{m: map[string][]int32{}}
}

func (ds *deletes) add(k string, d, i int) {
	rs := []rune(k)
	if len(rs) > maxKeyRunes {
		return
	}
	ds.budgets[len(rs)] = max(ds.budgets[len(rs)], int8(d))
	variants(rs, d, func(v []byte) bool {
		list := ds.m[string(v)]
		if len(list) == 0 || list[len(list)-1] != int32(i) {
			ds.m[string(v)] = append(list, int32(i))
		}
		return true
	})
}

// depth is how many deletions a query of n runes needs: the largest
// budget of a stored key whose length lies within that budget of n.
func (ds *deletes) depth(n int) int {
	d := 0
	for l := max(n-2, 0); l <= min(n+2, maxKeyRunes); l++ {
		if b := int(ds.budgets[l]); b > d && abs(l-n) <= b {
			d = b
		}
	}
	return d
}

func abs(x int) int { return max(x, -x) }

// candidates calls fn for each stored key that may lie within its edit
// budget of k, until fn returns false.
func (ds *deletes) candidates(k string, fn func(i int) bool) {
	rs := []rune(k)
	d := ds.depth(len(rs))
	if d == 0 {
		return
	}
	var seen [8]int32
	n := 0
	variants(rs, d, func(v []byte) bool {
		for _, i := range ds.m[string(v)] {
			if containsID(seen[:min(n, len(seen))], i) {
				continue
			}
			if n < len(seen) {
				seen[n] = i
			}
			n++
			if !fn(int(i)) {
				return false
			}
		}
		return true
	})
}

func containsID(list []int32, i int32) bool {
	for _, j := range list {
		if j == i {
			return true
		}
	}
	return false
}

// variants calls visit with rs itself and every string made of rs by
// deleting up to d (at most 2) runes, until visit returns false. The
// buffer is reused between calls: visit must not keep it.
func variants(rs []rune, d int, visit func([]byte) bool) {
	buf := make([]byte, 0, 4*len(rs))
	emit := func(skip1, skip2 int) bool {
		buf = buf[:0]
		for j, r := range rs {
			if j != skip1 && j != skip2 {
				buf = utf8.AppendRune(buf, r)
			}
		}
		return visit(buf)
	}
	if !emit(-1, -1) || d < 1 {
		return
	}
	for a := range rs {
		if !emit(a, -1) {
			return
		}
		for b := a + 1; d >= 2 && b < len(rs); b++ {
			if !emit(a, b) {
				return
			}
		}
	}
}

// osa is the optimal string alignment distance between a and b (the
// Damerau–Levenshtein distance where no substring is edited twice),
// counted in runes, or limit+1 when it exceeds limit.
func osa(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], limit+1)
}
