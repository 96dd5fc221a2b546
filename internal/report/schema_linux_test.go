//go:build linux

package report

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/scan"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

// A live scan with a real miner-like process talking to a pool fills in
// findings, evidence and incidents; the whole document must validate.
func TestSchemaLiveScan(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a fake miner")
	}
	sch := compileSchema(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "xmrig")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/minerguard/minerguard/internal/testkit/fakeminer").CombinedOutput()
	if err != nil {
		t.Fatalf("go build fakeminer: %v\n%s", err, out)
	}
	pool, err := fakepool.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const wallet = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
	cmd := exec.Command(bin, "-o", pool.Addr(), "-u", wallet, "--donate-level", "1", "--threads", "1", "--max-runtime", "2m")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.WaitLogin(ctx, wallet); err != nil {
		t.Fatal(err)
	}
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(ctx, h, scan.Options{Sample: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mine *findings.Incident
	for i := range rep.Incidents {
		if rep.Incidents[i].PID == cmd.Process.Pid {
			mine = &rep.Incidents[i]
		}
	}
	if mine == nil || mine.Severity < findings.High {
		t.Fatalf("the miner (pid %d) has no incident at high or above: %+v", cmd.Process.Pid, mine)
	}
	var buf bytes.Buffer
	if err := JSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"pid": `+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatal("report lacks the miner's pid")
	}
	if err := validateBytes(t, sch, buf.Bytes()); err != nil {
		t.Fatalf("live scan report: %v", err)
	}
}
