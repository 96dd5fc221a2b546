//go:build linux

package checks

import (
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
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

// TestIdentityLive runs the three identity checks against real processes
// with crafted command lines, environments and working directories.
func TestIdentityLive(t *testing.T) {
	cfg, err := os.ReadFile("testdata/miner_config/xmrig_config.json")
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	cwdDir := t.TempDir()
	if err := os.WriteFile(cwdDir+"/config.json", cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	exeDir := t.TempDir()
	if err := os.WriteFile(exeDir+"/config.json", cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	minerExe := idCopyExe(t, exeDir, "xmrig")

	miner := idStart(t, "", []string{"xmrig", "-o", "stratum+tcp://pool.example:3333", "-u", idWallet, "--donate-level", "1"}, empty)
	inCwd := idStart(t, "", []string{"python3", "worker.py"}, cwdDir)
	besideExe := idStart(t, minerExe, []string{"./xmrig"}, empty)
	envWallet := idStart(t, "", []string{"./run.sh"}, empty, "MINING_WALLET="+idWallet, "GIT_COMMIT="+idHex40)
	relConfig := idStart(t, "", []string{"svc", "--config", "config.json"}, cwdDir)
	benign := map[int]string{}
	for _, argv := range [][]string{
		strings.Fields("gcc -O2 -o x x.c"),
		strings.Fields("python3 train.py --lr 0.01 --epochs 10 -o out/"),
		strings.Fields("ssh -o StrictHostKeyChecking=no host"),
		{"git", "commit", "-m", "fix " + idHex40},
	} {
		benign[idStart(t, "", argv, empty)] = strings.Join(argv, " ")
	}

	env := idLiveEnv(t)
	cmd := idRun(t, env, "process.cmdline")
	wal := idRun(t, env, "process.wallet")
	mc := idRun(t, env, "process.miner_config")

	type row struct {
		pid               int
		cmdline, wallet   []string
		config            []string
		configPath, found string
	}
	rows := []row{
		{pid: miner, cmdline: []string{"process.cmdline.stratum_url/high", "process.cmdline.miner_flags/high"}, wallet: []string{"process.wallet/high"}},
		{pid: inCwd, config: []string{"process.miner_config/high"}, configPath: cwdDir + "/config.json", found: "working directory"},
		{pid: besideExe, config: []string{"process.miner_config/high"}, configPath: exeDir + "/config.json", found: "executable directory"},
		{pid: envWallet, wallet: []string{"process.wallet/high"}},
		{pid: relConfig, config: []string{"process.miner_config/high"}, configPath: cwdDir + "/config.json", found: "argument --config"},
	}
	for _, r := range rows {
		if got := idRules(cmd[r.pid]); !slices.Equal(got, r.cmdline) {
			t.Errorf("pid %d cmdline rules = %q, want %q", r.pid, got, r.cmdline)
		}
		if got := idRules(wal[r.pid]); !slices.Equal(got, r.wallet) {
			t.Errorf("pid %d wallet rules = %q, want %q", r.pid, got, r.wallet)
		}
		if got := idRules(mc[r.pid]); !slices.Equal(got, r.config) {
			t.Errorf("pid %d config rules = %q, want %q", r.pid, got, r.config)
		}
		if len(mc[r.pid]) > 0 {
			ev := mc[r.pid][0].Evidence
			if ev.Path != r.configPath || ev.Details["found_by"] != r.found || ev.Domain != "pool.supportxmr.com" || ev.Wallet != idWallet {
				t.Errorf("pid %d config evidence = %+v", r.pid, ev)
			}
		}
	}
	f := cmd[miner][0]
	if f.Evidence.PID != miner || f.Evidence.URL != "stratum+tcp://pool.example:3333" || f.Evidence.Domain != "pool.example" ||
		!slices.Equal(f.Evidence.Match, []string{"-o stratum+tcp://pool.example:3333"}) || f.Evidence.Cwd != empty {
		t.Errorf("stratum evidence = %+v", f.Evidence)
	}
	if m := cmd[miner][1].Evidence.Match; !slices.Equal(m, []string{"--donate-level"}) {
		t.Errorf("flag match = %q", m)
	}
	if ev := wal[miner][0].Evidence; ev.Wallet != idWallet || ev.Coin != "XMR" {
		t.Errorf("wallet evidence = %+v", ev)
	}
	if ev := wal[envWallet][0].Evidence; !slices.Equal(ev.Match, []string{
		"environ MINING_WALLET: Monero standard address " + idWallet,
		"environ GIT_COMMIT: Ethereum-style address " + idHex40}) {
		t.Errorf("env wallet match = %q", ev.Match)
	}
	for pid, argv := range benign {
		for id, got := range map[string]map[int][]findings.Finding{"cmdline": cmd, "wallet": wal, "config": mc} {
			for _, f := range got[pid] {
				if f.Severity > findings.Low {
					t.Errorf("benign %q: %s gives %s/%s", argv, id, f.Rule, f.Severity)
				}
			}
		}
	}
}
