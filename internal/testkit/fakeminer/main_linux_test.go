//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

// build compiles the program once per test binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakeminer")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestAgainstFakePool(t *testing.T) {
	bin := build(t)
	pool, err := fakepool.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cfgDir := t.TempDir()
	cfg := `{"donate-level": 1, "cpu": {"max-threads-hint": 10}, "pools": [{"url": "stratum+tcp://` + pool.Addr() + `", "user": "cfg-wallet", "pass": "rig"}]}`
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, dialect, dir string
		args                     []string
		check                    func(t *testing.T, pid int)
	}{
		{name: "xmr", user: "w-xmr", dialect: fakepool.DialectXMR, args: []string{"-o", "stratum+tcp://" + pool.Addr(), "-u", "w-xmr", "--donate-level", "1"}},
		{name: "stratum", user: "w-stratum", dialect: fakepool.DialectStratum, args: []string{"--proto", "stratum", "-o", pool.Addr(), "-u", "w-stratum"}},
		{name: "cwd config", user: "cfg-wallet", dialect: fakepool.DialectXMR, dir: cfgDir},
		{name: "comm", user: "w-comm", dialect: fakepool.DialectXMR, args: []string{"-o", pool.Addr(), "-u", "w-comm", "--comm", "kworker/0:2"},
			check: func(t *testing.T, pid int) {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
				if strings.TrimSpace(string(b)) != "kworker/0:2" {
					t.Errorf("comm = %q", b)
				}
			}},
		{name: "memfd", user: "w-memfd", dialect: fakepool.DialectXMR, args: []string{"--memfd", "-o", pool.Addr(), "-u", "w-memfd"},
			check: func(t *testing.T, pid int) {
				exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
				if !strings.HasPrefix(exe, "/memfd:") || !strings.HasSuffix(exe, "(deleted)") {
					t.Errorf("exe = %q", exe)
				}
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				if strings.Contains(string(b), "--memfd\x00") {
					t.Errorf("cmdline still has --memfd: %q", b)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(tc.args, "--threads", "1", "--share-interval", "100ms", "--max-runtime", "1m")...)
			cmd.Dir = tc.dir
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, err := pool.WaitLogin(ctx, tc.user)
			if err != nil {
				t.Fatal(err)
			}
			if l.Dialect != tc.dialect || !strings.Contains(l.Agent, "XMRig") {
				t.Errorf("login = %+v", l)
			}
			if err := pool.WaitShares(ctx, tc.user, 2); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, cmd.Process.Pid)
			}
		})
	}
}

func TestRefusesRemotePool(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "-o", "stratum+tcp://192.0.2.1:3333", "-u", "w", "--max-runtime", "5s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing non-loopback") {
		t.Fatalf("err=%v out=%s", err, out)
	}
}
