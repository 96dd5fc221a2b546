package checks

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAccountChecksFIFO plants FIFOs where profiles, key files, logs and
// sshd_config live: the checks must finish (a FIFO read blocks forever)
// and name the file in a warning.
func TestAccountChecksFIFO(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/passwd":        "root:x:0:0:root:/root:/bin/bash\n",
		"root/.ssh/.keep":   "",
		"var/log/.keep":     "",
		"etc/ssh/.keep":     "",
		"etc/ld.so.preload": "/usr/lib/libfifo.so\n",
		"usr/lib/.keep":     "",
	})
	for _, p := range []string{"root/.bashrc", "root/.ssh/authorized_keys", "var/log/wtmp", "var/log/auth.log", "etc/ssh/sshd_config", "usr/lib/libfifo.so"} {
		if err := syscall.Mkfifo(filepath.Join(root, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := offlineEnv(t, root, time.Now())
	done := make(chan string)
	go func() {
		var out []string
		for _, id := range []string{"accounts.users", "accounts.ssh", "accounts.logins", "preload.library"} {
			fs, err := runFile(t, env, id)
			for _, f := range fs {
				out = append(out, f.Rule)
			}
			if err != nil {
				out = append(out, err.Error())
			}
		}
		done <- strings.Join(out, "\n")
	}()
	select {
	case got := <-done:
		for _, want := range []string{"/etc/ssh/sshd_config: not a regular file", "/var/log/wtmp: not a regular file", "preload.library.unreadable"} {
			if !strings.Contains(got, want) {
				t.Errorf("missing %q in\n%s", want, got)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a check blocked on a FIFO")
	}
}
