package harden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestPSQuote(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"plain", "'plain'", ""},
		{"it's", "'it''s'", ""},
		{`HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`, `'HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services'`, ""},
		{"$env:x `n \"q\"", "'$env:x `n \"q\"'", ""}, // no expansion inside single quotes
		{"a\u2019b", "'a\u2019\u2019b'", ""},         // typographic quote ends a literal too
		{"高危端口", "'高危端口'", ""},
		{"two\nlines", "", "control character"},
		{"nul\x00", "", "control character"},
	}
	for _, tc := range tests {
		got, err := psQuote(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("psQuote(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("psQuote(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// What PowerShell reads back from the literal is the input.
		if back, ok := psUnquote(got); !ok || back != tc.in {
			t.Errorf("psUnquote(%q) = %q %v", got, back, ok)
		}
	}
}

// psUnquote reads a single-quoted literal as PowerShell does.
func psUnquote(s string) (string, bool) {
	rs := []rune(s)
	isQ := func(r rune) bool { return r == '\'' || (r >= '\u2018' && r <= '\u201b') }
	if len(rs) < 2 || !isQ(rs[0]) || !isQ(rs[len(rs)-1]) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(rs)-1; i++ {
		if isQ(rs[i]) {
			if i+1 >= len(rs)-1 || !isQ(rs[i+1]) {
				return "", false
			}
			i++
		}
		b.WriteRune(rs[i])
	}
	return b.String(), true
}

// psLex checks a script's strings, comments and brackets the way the
// PowerShell tokenizer reads them: single-quoted strings (” escapes),
// double-quoted strings (backtick escapes, $( ) subexpressions), # line
// comments, here-strings absent. It returns the first problem.
func psLex(script string) error {
	var stack []rune
	line := 1
	rs := []rune(script)
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\n':
			line++
		case c == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			i--
		case c == '\'':
			i++
			for ; ; i++ {
				if i >= len(rs) || rs[i] == '\n' {
					return fmt.Errorf("line %d: single-quoted string not closed on its line", line)
				}
				if rs[i] == '\'' {
					if i+1 < len(rs) && rs[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case c == '"':
			depth := 0
			i++
			for ; ; i++ {
				if i >= len(rs) || rs[i] == '\n' {
					return fmt.Errorf("line %d: double-quoted string not closed on its line", line)
				}
				if rs[i] == '`' {
					i++
					continue
				}
				if rs[i] == '$' && i+1 < len(rs) && rs[i+1] == '(' {
					depth++
					i++
					continue
				}
				if rs[i] == ')' && depth > 0 {
					depth--
					continue
				}
				if rs[i] == '"' && depth == 0 {
					break
				}
			}
		case c == '(' || c == '{' || c == '[':
			stack = append(stack, c)
		case c == ')' || c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("line %d: unbalanced %c", line, c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("end of script: %d bracket(s) not closed", len(stack))
	}
	return nil
}

func TestPSLexCatchesBadQuoting(t *testing.T) {
	for _, bad := range []string{"Set-X 'it's'\n", "Write-Output \"a\n", "if ($x) { \n", "f 'a''\n"} {
		if psLex(bad) == nil {
			t.Errorf("psLex accepted %q", bad)
		}
	}
	if err := psLex("Write-Output \"$($s.value) ok\" # it's\n$x = 'it''s'\n"); err != nil {
		t.Error(err)
	}
}

func TestPowerShellScriptGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePowerShell(&buf, intel.MustLoad(), "test", winIDs, nil); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "harden.ps1.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("script differs from %s (go test -update to accept):\n%s", golden, diffLines(string(want), buf.String()))
	}
	script := buf.String()
	if err := psLex(script); err != nil {
		t.Error(err)
	}
	for _, sub := range []string{
		"Add-BlockRule 'minerguard-high-risk-ports-tcp' 'minerguard high-risk ports (TCP)' 'TCP' @(135, 136, 137, 138, 139, 445, 3333, 4444, 5555, 8220)",
		`Set-RegDword 'HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters' 'AutoShareWks' 0`,
		`Set-RegDword 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server' 'fDenyTSConnections' 1`,
		"Set-MinPasswordLength 10", "Disable-Guest", "Disable-Svc 'LanmanServer'", "Update-MpSignature",
		"New-NetFirewallRule", "Set-MpPreference -DisableRealtimeMonitoring $false", "Disable-LocalUser", "net.exe accounts",
	} {
		if !strings.Contains(script, sub) {
			t.Errorf("script lacks %q", sub)
		}
	}
	// Every journaled change has its rollback case.
	for _, kind := range []string{"registry", "service", "firewall", "fwprofile", "minpwlen", "guest", "mppreference"} {
		if !strings.Contains(script, "kind = '"+kind+"'") || !strings.Contains(script, "'"+kind+"' {") {
			t.Errorf("step kind %s is not both journaled and rolled back", kind)
		}
	}
}

func TestPowerShellSelection(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePowerShell(&buf, intel.MustLoad(), "test", nil, []string{"win.rdp"}); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if strings.Contains(s, "Disable-Svc 'LanmanServer'") || strings.Contains(s, "# win.rdp:") || !strings.Contains(s, "# win.accounts.guest:") {
		t.Errorf("default selection: opt-in item included or --skip ignored:\n%s", s[:300])
	}
	if err := WritePowerShell(&buf, intel.MustLoad(), "test", []string{"ssh.root_login"}, nil); err == nil {
		t.Error("a Linux-only selection produced a script")
	}
}
