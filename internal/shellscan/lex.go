// Package shellscan judges lines of shell found where malware persists
// (cron commands, systemd ExecStart, rc.local and profile lines): it splits
// them into commands the way a shell would, closely enough to follow
// pipes, command substitutions, "sh -c" strings and encoded payloads, and
// reports what makes a command look like a miner dropper. It never runs
// anything.
package shellscan

import (
	"strconv"
	"strings"
)

// Limits keep hostile input cheap: a cron line may be megabytes of base64.
const (
	maxText     = 1 << 20 // bytes of one text analysed
	maxCommands = 20000   // commands lexed from one text
	maxDepth    = 8       // nesting of $(...), sh -c and decoded payloads
)

// command is one simple command: words after quote removal, plus what the
// shell would run or feed it from elsewhere.
type command struct {
	words []string
	// raw words as written (quotes kept), to find "$(" inside arguments.
	line int // 1-based line where the command starts
	// op is the operator that ended the command: "|", ";", "&&", "||",
	// "&", "\n" or "" at the end of the text.
	op string
	// subs are the bodies of $(...), `...`, <(...) and >(...) in the
	// command, which run before it.
	subs []string
	// redirs are redirections; for "<<" and "<<<" the target is the
	// here-document or here-string text.
	redirs []redir
	// keyword is a loop keyword ("while", "until", "for") that preceded
	// the command.
	keyword string
}

type redir struct {
	op, target string
}

type lexer struct {
	s    string
	i    int
	line int
	cmds []command
	cur  command
	word strings.Builder
	inW  bool // a word is being built (even an empty quoted one)
	// heres are here-documents whose bodies start after this line:
	// indexes of the command and of its redirection.
	heres [][2]int
	rdOp  string // pending redirection operator awaiting its target
	// group says a ")" just closed a group, so a following "|" pipes the
	// group's last command.
	group bool
}

// lex splits text into commands. It never fails: unbalanced quotes end at
// the end of the text, as a reader of the file would see them.
func lex(text string) []command {
	if len(text) > maxText {
		text = text[:maxText]
	}
	l := &lexer{s: text, line: 1}
	l.cur.line = 1
	for l.i < len(l.s) && len(l.cmds) < maxCommands {
		c := l.s[l.i]
		wasGroup := l.group
		l.group = false
		switch {
		case c == '\\' && l.i+1 < len(l.s) && l.s[l.i+1] == '\n':
			l.i += 2
			l.line++
		case c == '\\' && l.i+1 < len(l.s):
			l.word.WriteByte(l.s[l.i+1])
			l.inW = true
			l.i += 2
		case c == '\\':
			l.i++
		case c == ' ' || c == '\t' || c == '\r':
			l.endWord()
			l.i++
			l.group = wasGroup
		case c == '\n':
			l.endCommand("\n")
			l.i++
			l.readHeredocs()
			l.line++
			l.cur.line = l.line
		case c == '#' && !l.inW:
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
		case c == '\'':
			j := strings.IndexByte(l.s[l.i+1:], '\'')
			if j < 0 {
				j = len(l.s) - l.i - 1
			}
			body := l.s[l.i+1 : l.i+1+j]
			l.line += strings.Count(body, "\n")
			l.word.WriteString(body)
			l.inW = true
			l.i += j + 2
		case c == '$' && l.i+1 < len(l.s) && l.s[l.i+1] == '\'':
			l.i += 2
			l.word.WriteString(l.ansiC())
			l.inW = true
		case c == '"':
			l.i++
			l.double()
			l.inW = true
		case c == '`':
			body := l.backtick()
			l.cur.subs = append(l.cur.subs, body)
			l.word.WriteString("`" + body + "`")
			l.inW = true
		case c == '$' && l.i+1 < len(l.s) && l.s[l.i+1] == '(':
			body := l.paren(l.i + 2)
			l.cur.subs = append(l.cur.subs, body)
			l.word.WriteString("$(" + body + ")")
			l.inW = true
		case (c == '<' || c == '>') && l.i+1 < len(l.s) && l.s[l.i+1] == '(':
			body := l.paren(l.i + 2)
			l.cur.subs = append(l.cur.subs, body)
			l.word.WriteString(string(c) + "(" + body + ")")
			l.inW = true
		case c == '|' || c == '&' || c == ';':
			l.endWord()
			op := string(c)
			if l.i+1 < len(l.s) {
				n := l.s[l.i+1]
				switch {
				case c == '|' && n == '|', c == '&' && n == '&', c == ';' && n == ';':
					op += string(n)
				case c == '|' && n == '&':
					op = "|"
					l.i++
				case c == '&' && n == '>':
					// &> redirects both streams.
					l.i += 2
					if l.i < len(l.s) && l.s[l.i] == '>' {
						l.i++
					}
					l.rdOp = ">"
					continue
				}
			}
			l.i += len(op)
			if op == ";;" {
				op = ";"
			}
			if op == "|" && wasGroup && len(l.cur.words) == 0 && len(l.cmds) > 0 {
				l.cmds[len(l.cmds)-1].op = "|"
			}
			l.endCommand(op)
		case c == '(' || c == ')':
			l.endWord()
			l.i++
			l.endCommand(";")
			l.group = c == ')'
			continue
		case c == '<' || c == '>':
			// A word made only of digits before the operator is a file
			// descriptor ("2>"), not an argument.
			if l.inW && isDigits(l.word.String()) {
				l.word.Reset()
				l.inW = false
			}
			l.endWord()
			op := string(c)
			for l.i+len(op) < len(l.s) && len(op) < 3 && strings.ContainsRune("<>&", rune(l.s[l.i+len(op)])) {
				op += string(l.s[l.i+len(op)])
			}
			l.i += len(op)
			if strings.HasSuffix(op, "&") && l.i < len(l.s) && (l.s[l.i] >= '0' && l.s[l.i] <= '9' || l.s[l.i] == '-') {
				// 2>&1: a descriptor copy, no file.
				for l.i < len(l.s) && (l.s[l.i] >= '0' && l.s[l.i] <= '9' || l.s[l.i] == '-') {
					l.i++
				}
				continue
			}
			l.rdOp = strings.TrimRight(op, "&")
			if l.rdOp == "<<" && l.i < len(l.s) && l.s[l.i] == '-' {
				l.i++
			}
		default:
			l.word.WriteByte(c)
			l.inW = true
			l.i++
		}
	}
	l.endCommand("")
	return l.cmds
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (l *lexer) endWord() {
	if !l.inW {
		return
	}
	w := l.word.String()
	l.word.Reset()
	l.inW = false
	if l.rdOp != "" {
		r := redir{op: l.rdOp, target: w}
		l.rdOp = ""
		l.cur.redirs = append(l.cur.redirs, r)
		return
	}
	l.cur.words = append(l.cur.words, w)
}

// loopKeywords start a loop; the other keywords just introduce a command.
var shellKeywords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true, "done": true,
	"while": true, "until": true, "!": true, "{": true, "}": true, "esac": true,
}

func (l *lexer) endCommand(op string) {
	l.endWord()
	l.rdOp = ""
	w := l.cur.words
	kw := ""
	for len(w) > 0 && shellKeywords[w[0]] {
		if w[0] == "while" || w[0] == "until" {
			kw = w[0]
		}
		w = w[1:]
	}
	if len(w) > 0 && w[0] == "for" {
		// "for x in a b" and "for ((;;))" run nothing themselves.
		kw = "for"
		w = nil
	}
	for len(w) > 0 && w[len(w)-1] == "}" {
		w = w[:len(w)-1]
	}
	l.cur.words = w
	l.cur.keyword = kw
	l.cur.op = op
	if len(w) > 0 || len(l.cur.subs) > 0 || len(l.cur.redirs) > 0 || kw != "" {
		l.cmds = append(l.cmds, l.cur)
		for k, r := range l.cur.redirs {
			if r.op == "<<" {
				// The body follows the end of the line.
				l.heres = append(l.heres, [2]int{len(l.cmds) - 1, k})
			}
		}
	}
	l.cur = command{line: l.line}
}

// readHeredocs replaces each pending here-document's delimiter with the
// lines up to it.
func (l *lexer) readHeredocs() {
	for _, ix := range l.heres {
		h := &l.cmds[ix[0]].redirs[ix[1]]
		delim := strings.Trim(h.target, `'"`)
		var body strings.Builder
		for l.i < len(l.s) {
			end := strings.IndexByte(l.s[l.i:], '\n')
			var ln string
			if end < 0 {
				ln, l.i = l.s[l.i:], len(l.s)
			} else {
				ln, l.i = l.s[l.i:l.i+end], l.i+end+1
			}
			l.line++
			if strings.TrimLeft(ln, "\t") == delim {
				break
			}
			body.WriteString(ln)
			body.WriteByte('\n')
		}
		h.target = body.String()
	}
	l.heres = l.heres[:0]
}

// double reads a double-quoted string after the opening quote.
func (l *lexer) double() {
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == '"':
			l.i++
			return
		case c == '\\' && l.i+1 < len(l.s) && strings.IndexByte("\"\\$`\n", l.s[l.i+1]) >= 0:
			if l.s[l.i+1] != '\n' {
				l.word.WriteByte(l.s[l.i+1])
			} else {
				l.line++
			}
			l.i += 2
		case c == '`':
			body := l.backtick()
			l.cur.subs = append(l.cur.subs, body)
			l.word.WriteString("`" + body + "`")
		case c == '$' && l.i+1 < len(l.s) && l.s[l.i+1] == '(':
			body := l.paren(l.i + 2)
			l.cur.subs = append(l.cur.subs, body)
			l.word.WriteString("$(" + body + ")")
		default:
			if c == '\n' {
				l.line++
			}
			l.word.WriteByte(c)
			l.i++
		}
	}
}

// backtick reads `...` starting at the opening backtick.
func (l *lexer) backtick() string {
	var b strings.Builder
	l.i++
	for l.i < len(l.s) {
		c := l.s[l.i]
		if c == '\\' && l.i+1 < len(l.s) {
			b.WriteByte(l.s[l.i+1])
			l.i += 2
			continue
		}
		l.i++
		if c == '`' {
			break
		}
		if c == '\n' {
			l.line++
		}
		b.WriteByte(c)
	}
	return b.String()
}

// paren reads a balanced "(...)" body starting at from (just inside the
// parenthesis), skipping quoted text, and leaves l.i after the closing one.
func (l *lexer) paren(from int) string {
	depth := 1
	j := from
	for j < len(l.s) {
		c := l.s[j]
		switch c {
		case '\\':
			j++
		case '\'':
			if k := strings.IndexByte(l.s[j+1:], '\''); k >= 0 {
				j += k + 1
			} else {
				j = len(l.s)
			}
		case '"':
			for j++; j < len(l.s) && l.s[j] != '"'; j++ {
				if l.s[j] == '\\' {
					j++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
		}
		if depth == 0 || j >= len(l.s) {
			break
		}
		j++
	}
	end := min(j, len(l.s))
	body := l.s[from:end]
	l.line += strings.Count(body, "\n")
	l.i = min(end+1, len(l.s))
	return body
}

// ansiC decodes a $'...' string (l.i just inside the quote).
func (l *lexer) ansiC() string {
	var b strings.Builder
	for l.i < len(l.s) {
		c := l.s[l.i]
		if c == '\'' {
			l.i++
			break
		}
		if c != '\\' || l.i+1 >= len(l.s) {
			b.WriteByte(c)
			l.i++
			continue
		}
		s, n := unescape(l.s[l.i:])
		b.WriteString(s)
		l.i += n
	}
	return b.String()
}

// unescape decodes one backslash escape at the start of s (as printf, echo
// -e and $'...' do), returning the text and the bytes consumed.
func unescape(s string) (string, int) {
	if len(s) < 2 {
		return s, len(s)
	}
	switch s[1] {
	case 'n':
		return "\n", 2
	case 't':
		return "\t", 2
	case 'r':
		return "\r", 2
	case '\\':
		return "\\", 2
	case '\'':
		return "'", 2
	case '"':
		return "\"", 2
	case 'x':
		n := 2
		for n < 4 && n < len(s) && isHex(s[n]) {
			n++
		}
		if n == 2 {
			return s[:2], 2
		}
		v, _ := strconv.ParseUint(s[2:n], 16, 8)
		return string([]byte{byte(v)}), n
	case '0', '1', '2', '3', '4', '5', '6', '7':
		n := 1
		if s[1] == '0' {
			n = 2
		}
		start := n
		for n < start+3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			n++
		}
		if n == start {
			return "\x00", n
		}
		v, _ := strconv.ParseUint(s[start:n], 8, 16)
		return string([]byte{byte(v)}), n
	}
	return s[:2], 2
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
