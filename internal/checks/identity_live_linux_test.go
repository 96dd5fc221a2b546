//go:build linux

package checks

import (
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
)

// idSleeperEnv turns the test binary into an idle child process whose
// argv, cwd and environment the tests craft: a real process in /proc with
// a miner's command line, without any miner.
const idSleeperEnv = "MINERGUARD_TEST_IDENTITY_SLEEPER"

func init() {
	if os.Getenv(idSleeperEnv) == "1" {
		time.Sleep(5 * time.Minute)
		os.Exit(0)
	}
}

// idStart starts exe (the test binary or a copy) as a sleeper with argv,
// working directory dir and extra environment; it is killed at cleanup.
func idStart(t *testing.T, exe string, argv []string, dir string, env ...string) int {
	t.Helper()
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := &exec.Cmd{
		Path: exe,
		Args: argv,
		Dir:  dir,
		Env:  append([]string{idSleeperEnv + "=1"}, env...),
		// The child dies with the test even if the test is killed.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// idCopyExe copies the test binary to dir/name, so a child can run from a
// directory holding miner files.
func idCopyExe(t *testing.T, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := dir + "/" + name
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// idLiveEnv snapshots the real process table.
func idLiveEnv(t *testing.T) *Env {
	t.Helper()
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := process.Snapshot(context.Background(), h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), tbl, nil)
}
