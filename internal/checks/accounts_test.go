package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

// offlineEnv builds an offline host over root with the scan clock at now.
func offlineEnv(t *testing.T, root string, now time.Time) *Env {
	t.Helper()
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(h, intel.MustLoad(), nil, nil)
	env.Now = now
	return env
}

// runFile runs a file check and returns its findings and warning error.
func runFile(t *testing.T, env *Env, id string) ([]findings.Finding, error) {
	t.Helper()
	c, ok := Lookup(id)
	if !ok {
		t.Fatalf("check %s not registered", id)
	}
	return c.Run(context.Background(), env)
}

// ruleKeys lists "rule/severity/user@path:line" sorted, for exact comparison.
func ruleKeys(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s/%s/%s@%s:%d", f.Rule, f.Severity, f.Evidence.User, f.Evidence.Path, f.Evidence.Line))
	}
	sort.Strings(out)
	return out
}

// oldSystem writes files that date the installation two years back.
func oldSystem(t *testing.T, root string, now time.Time) {
	t.Helper()
	writeTree(t, root, map[string]string{"etc/machine-id": "0123456789abcdef0123456789abcdef\n"})
	old := now.Add(-2 * 365 * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(root, "etc/machine-id"), old, old); err != nil {
		t.Fatal(err)
	}
}

const debianPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
postgres:x:114:120:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
sshd:x:105:65534::/run/sshd:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
`

func debianShadow(day int) string {
	return fmt.Sprintf(`root:$y$j9T$abc$def:%[1]d:0:99999:7:::
daemon:*:%[1]d:0:99999:7:::
bin:*:%[1]d:0:99999:7:::
sync:*:%[1]d:0:99999:7:::
postgres:!:%[1]d::::::
sshd:!:%[1]d::::::
alice:$y$j9T$xyz$uvw:%[1]d:0:99999:7:::
`, day)
}

const debianGroup = `root:x:0:
sudo:x:27:alice
adm:x:4:syslog
alice:x:1000:
`

func TestAccounts(t *testing.T) {
	// Home directories are born at the real time, so the scan clock is real.
	now := time.Now()
	oldDay := int(now.Add(-400*24*time.Hour).Unix() / 86400)
	today := int(now.Unix() / 86400)
	_, btime := birthTime(t.TempDir())
	newPrivSev := "low"
	if btime {
		newPrivSev = "medium"
	}
	tests := []struct {
		name   string
		passwd string
		shadow string
		group  string
		homes  []string // home dirs to create now
		young  bool
		want   []string
		warn   string
	}{
		{name: "clean debian", passwd: debianPasswd, shadow: debianShadow(oldDay), group: debianGroup},
		{name: "uid0 backdoor", passwd: debianPasswd + "toor:x:0:0::/root:/bin/sh\n", shadow: debianShadow(oldDay), group: debianGroup,
			want: []string{"accounts.uid0/high/toor@/etc/passwd:8"}},
		{name: "empty passwd field", passwd: debianPasswd + "guest::1001:1001::/home/guest:/bin/bash\n", shadow: debianShadow(oldDay), group: debianGroup,
			want: []string{"accounts.empty_password/high/guest@/etc/passwd:8"}},
		{name: "empty shadow hash", passwd: debianPasswd + "guest:x:1001:1001::/home/guest:/bin/bash\n", shadow: debianShadow(oldDay) + fmt.Sprintf("guest::%d:0:99999:7:::\n", oldDay), group: debianGroup,
			want: []string{"accounts.empty_password/high/guest@/etc/shadow:8"}},
		{name: "empty hash without shell", passwd: debianPasswd + "svc:x:998:998::/var/lib/svc:/usr/sbin/nologin\n", shadow: debianShadow(oldDay) + fmt.Sprintf("svc::%d::::::\n", oldDay), group: debianGroup},
		{name: "duplicate uid", passwd: debianPasswd + "alice2:x:1000:1000::/home/alice:/usr/sbin/nologin\n", shadow: debianShadow(oldDay), group: debianGroup,
			want: []string{"accounts.duplicate_uid/medium/alice2@/etc/passwd:8"}},
		{name: "daemon with bash", passwd: strings.Replace(debianPasswd, "/usr/sbin:/usr/sbin/nologin", "/usr/sbin:/bin/bash", 1), shadow: debianShadow(oldDay), group: debianGroup,
			want: []string{"accounts.system_shell/medium/daemon@/etc/passwd:2"}},
		{name: "new sudo account", passwd: debianPasswd + "backup2:x:1001:1001::/home/backup2:/bin/bash\n", shadow: debianShadow(oldDay) + fmt.Sprintf("backup2:$6$a$b:%d:0:99999:7:::\n", today-1),
			group: strings.Replace(debianGroup, "sudo:x:27:alice", "sudo:x:27:alice,backup2", 1), homes: []string{"home/backup2"},
			want: []string{"accounts.recent_privileged/" + newPrivSev + "/backup2@/etc/shadow:8"}},
		{name: "restored home of an old account", passwd: debianPasswd, shadow: debianShadow(oldDay), group: debianGroup, homes: []string{"home/alice"}},
		{name: "new plain account", passwd: debianPasswd + "bob:x:1001:1001::/home/bob:/bin/bash\n", shadow: debianShadow(oldDay) + fmt.Sprintf("bob:$6$a$b:%d:0:99999:7:::\n", today-2),
			group: debianGroup, homes: []string{"home/bob"},
			want: []string{"accounts.recent/low/bob@/etc/shadow:8"}},
		{name: "new account on young system", passwd: debianPasswd + "bob:x:1001:1001::/home/bob:/bin/bash\n", shadow: debianShadow(today-3) + fmt.Sprintf("bob:$6$a$b:%d:0:99999:7:::\n", today-2),
			group: strings.Replace(debianGroup, "sudo:x:27:alice", "sudo:x:27:alice,bob", 1), homes: []string{"home/bob"}, young: true,
			want: []string{"accounts.recent/info/postgres@/etc/shadow:5", "accounts.recent_privileged/info/alice@/etc/shadow:7", "accounts.recent_privileged/info/bob@/etc/shadow:8"}},
		{name: "malformed lines", passwd: "root:x:0:0:root:/root:/bin/bash\nbroken line\nx:y:z:0:::\n", shadow: "root:*:19000::::::\n", group: "root:x:0:\n",
			warn: "/etc/passwd:2: want 7 fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{"etc/passwd": tc.passwd, "etc/shadow": tc.shadow, "etc/group": tc.group})
			for _, h := range tc.homes {
				if err := os.MkdirAll(filepath.Join(root, h), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.young {
				oldSystem(t, root, now)
			}
			fs, err := runFile(t, offlineEnv(t, root, now), "accounts.users")
			if tc.warn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.warn) {
					t.Fatalf("warning %v, want %q", err, tc.warn)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got := ruleKeys(fs)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, f := range fs {
				if f.Signal != findings.SignalAccount || f.Evidence.UID == nil || f.Evidence.Content == "" {
					t.Fatalf("evidence %+v", f)
				}
				if strings.Contains(f.Evidence.Content, "$6$") || strings.Contains(f.Evidence.Content, "$y$") {
					t.Fatalf("password hash leaked into evidence: %q", f.Evidence.Content)
				}
			}
		})
	}
}

func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte(debianPasswd), []byte(debianShadow(19000)), []byte(debianGroup))
	f.Add([]byte("a:b\n+::::::\n::::::\n"), []byte("x:y:-1\n"), []byte("g:x:-2:a,,b\n"))
	f.Fuzz(func(t *testing.T, p, s, g []byte) {
		us, _ := ParsePasswd(p, "p")
		for _, u := range us {
			if u.Name == "" || u.UID < 0 || u.Line < 1 {
				t.Fatalf("bad entry %+v", u)
			}
		}
		ss, _ := ParseShadow(s, "s")
		for _, e := range ss {
			if e.Name == "" || e.LastChange < -1 {
				t.Fatalf("bad shadow %+v", e)
			}
		}
		gs, _ := ParseGroup(g, "g")
		for _, e := range gs {
			for _, m := range e.Members {
				if m == "" {
					t.Fatal("empty member")
				}
			}
		}
	})
}

func TestAccountsIntelLoads(t *testing.T) {
	env := NewEnv(nil, intel.MustLoad(), nil, nil)
	ai, err := loadAccountsIntel(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"readdir", "readdir64", "opendir", "fopen", "fopen64", "open", "stat"} {
		if !inList(ai.HookSymbols, s) {
			t.Errorf("hook_symbols lacks %s", s)
		}
	}
	if ai.BruteForceFailures != 20 || ai.RecentDays != 7 || ai.MaxAuthTries != 6 || !inList(ai.PrivilegedGroups, "sudo") || !inList(ai.PrivilegedGroups, "docker") {
		t.Errorf("thresholds %+v", ai)
	}
	if !ai.isLoginShell("/bin/bash") || ai.isLoginShell("/usr/sbin/nologin") || ai.isLoginShell("/bin/sync") || ai.isLoginShell("/bin/false") {
		t.Error("isLoginShell")
	}
}
