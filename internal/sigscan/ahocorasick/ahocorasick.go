// Package ahocorasick finds many byte patterns in one pass over a stream.
//
// The automaton is a dense DFA over byte classes: every byte that occurs in
// some pattern gets its own class and all other bytes share class 0, so the
// transition table stays small (states × classes) while each input byte
// costs one table lookup. Case-insensitive patterns are handled by folding
// ASCII letters in the class map ('A' and 'a' share a class); the trie is
// built over folded bytes and the few case-sensitive patterns whose final
// state is reached are confirmed against the original bytes, so input is
// never copied or lower-cased.
package ahocorasick

import "fmt"

// Pattern is one needle.
type Pattern struct {
	Text []byte
	// Fold makes ASCII letters match either case.
	Fold bool
}

// outFlag marks, in a transition, that the target state ends a pattern;
// transitions are stored pre-multiplied by the class count so the hot loop
// is one add and one load per byte.
const outFlag = 1 << 31

// Automaton is immutable after New and safe for concurrent use; each scan
// runs in its own Stream.
type Automaton struct {
	pats     []Pattern
	classes  [256]uint8
	nclasses uint32
	delta    []uint32  // [state*nclasses + class] -> next*nclasses | outFlag
	outs     [][]int32 // per state (indexed by state*nclasses / nclasses): pattern ids ending here
	maxLen   int
	nstates  int
	empty    []int32 // ids of empty patterns, which match at offset 0
}

func fold(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// New builds the automaton. Patterns keep their index as id. At most
// 2^31/256 states are supported, far beyond any signature set.
func New(patterns []Pattern) (*Automaton, error) {
	a := &Automaton{pats: make([]Pattern, len(patterns))}
	// Byte classes over folded bytes; class 0 is "no pattern has it".
	var used [256]bool
	total := 0
	for i, p := range patterns {
		a.pats[i] = Pattern{Text: append([]byte(nil), p.Text...), Fold: p.Fold}
		for _, b := range p.Text {
			used[fold(b)] = true
		}
		total += len(p.Text)
		if len(p.Text) > a.maxLen {
			a.maxLen = len(p.Text)
		}
	}
	if total+1 > (1<<31)/256 {
		return nil, fmt.Errorf("ahocorasick: patterns too large (%d bytes)", total)
	}
	n := uint8(1)
	var classOf [256]uint8
	for b := 0; b < 256; b++ {
		if used[b] {
			classOf[b] = n
			n++
		}
	}
	for b := 0; b < 256; b++ {
		a.classes[b] = classOf[fold(byte(b))]
	}
	nc := int(n)
	a.nclasses = uint32(nc)

	// Trie over folded bytes, children as a dense row per node.
	trie := [][]int32{make([]int32, nc)}
	outs := [][]int32{nil}
	for id, p := range a.pats {
		if len(p.Text) == 0 {
			a.empty = append(a.empty, int32(id))
			continue
		}
		s := 0
		for _, b := range p.Text {
			c := a.classes[b]
			if trie[s][c] == 0 {
				trie = append(trie, make([]int32, nc))
				outs = append(outs, nil)
				trie[s][c] = int32(len(trie) - 1)
			}
			s = int(trie[s][c])
		}
		outs[s] = append(outs[s], int32(id))
	}

	// Breadth-first failure links turn the trie into a complete DFA: a
	// missing edge goes where the failure state's edge goes, and each state
	// inherits the outputs of its failure state.
	ns := len(trie)
	fail := make([]int32, ns)
	queue := make([]int32, 0, ns)
	for c := 0; c < nc; c++ {
		if t := trie[0][c]; t != 0 {
			queue = append(queue, t)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		outs[s] = append(outs[s], outs[fail[s]]...)
		for c := 0; c < nc; c++ {
			t := trie[s][c]
			if t == 0 {
				trie[s][c] = trie[fail[s]][c]
				continue
			}
			fail[t] = trie[fail[s]][c]
			queue = append(queue, t)
		}
	}
	a.nstates = ns
	a.outs = outs
	a.delta = make([]uint32, ns*nc)
	for s := 0; s < ns; s++ {
		for c := 0; c < nc; c++ {
			t := trie[s][c]
			v := uint32(t) * uint32(nc)
			if len(outs[t]) > 0 {
				v |= outFlag
			}
			a.delta[s*nc+c] = v
		}
	}
	return a, nil
}

// Len is the number of patterns.
func (a *Automaton) Len() int { return len(a.pats) }

// States is the number of DFA states (for tests and sizing).
func (a *Automaton) States() int { return a.nstates }

// Stream scans input given in pieces, carrying the automaton state (and
// the last maxLen-1 bytes, for confirming case-sensitive matches that span
// two pieces) from one Write to the next. A Stream is not safe for
// concurrent use.
type Stream struct {
	a     *Automaton
	state uint32
	off   int64
	// first[id] is the end offset (exclusive) of the pattern's first
	// occurrence, or -1.
	first   []int64
	pending int // patterns not yet found
	hist    []byte
}

// NewStream starts a scan at offset 0.
func (a *Automaton) NewStream() *Stream {
	s := &Stream{a: a, first: make([]int64, len(a.pats)), pending: len(a.pats)}
	for i := range s.first {
		s.first[i] = -1
	}
	for _, id := range a.empty {
		s.first[id] = 0
		s.pending--
	}
	return s
}

// Write feeds the next piece of input; it never fails.
func (s *Stream) Write(p []byte) (int, error) {
	a := s.a
	delta, classes := a.delta, &a.classes
	st := s.state
	if s.pending > 0 {
		for i, b := range p {
			st = delta[st+uint32(classes[b])]
			if st&outFlag != 0 {
				st &^= outFlag
				s.emit(st/a.nclasses, p, i)
			}
		}
	}
	s.state = st
	s.off += int64(len(p))
	s.keepHistory(p)
	return len(p), nil
}

// emit records the patterns ending at p[i] in state st.
func (s *Stream) emit(st uint32, p []byte, i int) {
	end := s.off + int64(i) + 1
	for _, id := range s.a.outs[st] {
		if s.first[id] >= 0 {
			continue
		}
		pat := &s.a.pats[id]
		if !pat.Fold && !s.exact(pat.Text, p, i) {
			continue
		}
		s.first[id] = end
		s.pending--
	}
}

// exact confirms a case-sensitive pattern ending at p[i], looking back into
// the previous pieces' history when it starts before p.
func (s *Stream) exact(t, p []byte, i int) bool {
	n := len(t)
	if i+1 >= n {
		return string(p[i+1-n:i+1]) == string(t)
	}
	inP := i + 1
	inHist := n - inP
	if inHist > len(s.hist) {
		return false
	}
	return string(s.hist[len(s.hist)-inHist:]) == string(t[:inHist]) &&
		string(p[:inP]) == string(t[inHist:])
}

func (s *Stream) keepHistory(p []byte) {
	keep := s.a.maxLen - 1
	if keep <= 0 {
		return
	}
	if len(p) >= keep {
		s.hist = append(s.hist[:0], p[len(p)-keep:]...)
		return
	}
	s.hist = append(s.hist, p...)
	if len(s.hist) > keep {
		s.hist = append(s.hist[:0], s.hist[len(s.hist)-keep:]...)
	}
}

// Found reports whether pattern id occurred.
func (s *Stream) Found(id int) bool { return s.first[id] >= 0 }

// FirstEnd is the offset just past the first occurrence of pattern id, or -1.
func (s *Stream) FirstEnd(id int) int64 { return s.first[id] }

// Done reports whether every pattern has been found, so a caller may stop
// reading early.
func (s *Stream) Done() bool { return s.pending == 0 }

// Offset is the number of bytes written so far.
func (s *Stream) Offset() int64 { return s.off }
