package respond

import (
	"bytes"
	"fmt"
)

// LineEdit changes one line of a text file: Old is the line's exact bytes
// (without its newline) as planned; New replaces it, or the line is deleted
// when Delete is set. Line is 1-based and a hint: files change between scan
// and apply, so the edit finds Old again if the line moved.
type LineEdit struct {
	// File is set when one action edits several files (lock_account).
	File   string `json:"file,omitempty"`
	Line   int    `json:"line"`
	Old    []byte `json:"old"`
	New    []byte `json:"new,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

// ErrEditConflict means a planned line is no longer in the file (or is
// there more than once and the hint does not say which).
type ErrEditConflict struct {
	Line int
	Old  []byte
}

func (e *ErrEditConflict) Error() string {
	return fmt.Sprintf("line %d %q is no longer in the file as planned", e.Line, clip(e.Old, 80))
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// splitLines splits text into lines, keeping each line's terminator
// ("\n", "\r\n" or none on the last line), so joining them gives the input
// back byte for byte.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

// lineBody is a line without its terminator.
func lineBody(l []byte) []byte {
	l = bytes.TrimSuffix(l, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r"))
}

// ApplyEdits returns text with the edits made; every other byte of the file
// stays as it was. changed is false when every edit was already made (a
// resumed run). An edit whose line cannot be found is a conflict: nothing
// is changed then.
func ApplyEdits(text []byte, edits []LineEdit) (out []byte, changed bool, err error) {
	lines := splitLines(text)
	used := make([]bool, len(lines))
	type hit struct {
		idx int
		e   LineEdit
	}
	var hits []hit
	for _, e := range edits {
		idx := findLine(lines, used, e)
		if idx < 0 {
			if editDone(lines, e) {
				continue
			}
			return nil, false, &ErrEditConflict{Line: e.Line, Old: e.Old}
		}
		used[idx] = true
		hits = append(hits, hit{idx, e})
	}
	if len(hits) == 0 {
		return text, false, nil
	}
	repl := map[int]LineEdit{}
	for _, h := range hits {
		repl[h.idx] = h.e
	}
	var buf bytes.Buffer
	buf.Grow(len(text))
	for i, l := range lines {
		e, ok := repl[i]
		if !ok {
			buf.Write(l)
			continue
		}
		if e.Delete {
			continue
		}
		buf.Write(e.New)
		buf.Write(l[len(lineBody(l)):]) // keep the line's own terminator
	}
	return buf.Bytes(), true, nil
}

// findLine finds the unused line equal to e.Old: at the hinted number if it
// matches there, else the only match in the file.
func findLine(lines [][]byte, used []bool, e LineEdit) int {
	if i := e.Line - 1; i >= 0 && i < len(lines) && !used[i] && bytes.Equal(lineBody(lines[i]), e.Old) {
		return i
	}
	found := -1
	for i, l := range lines {
		if used[i] || !bytes.Equal(lineBody(l), e.Old) {
			continue
		}
		if found >= 0 {
			return -1 // ambiguous: refuse rather than guess
		}
		found = i
	}
	return found
}

// editDone reports an edit already made: the old line is gone and, for a
// replacement, the new one is present.
func editDone(lines [][]byte, e LineEdit) bool {
	for _, l := range lines {
		if bytes.Equal(lineBody(l), e.Old) {
			return false
		}
	}
	if e.Delete {
		return true
	}
	for _, l := range lines {
		if bytes.Equal(lineBody(l), e.New) {
			return true
		}
	}
	return false
}
