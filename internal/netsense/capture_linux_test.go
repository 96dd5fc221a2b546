package netsense_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

const wallet = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

// TestNetLiveInNamespace: `minerguard net live -i lo` inside a network
// namespace of its own sees two fake miners (XMR and Stratum v1) talk to
// fake pools, alerts each as soon as it is recognised (stderr and EVE
// file), and on SIGINT stops cleanly and writes the report.
func TestNetLiveInNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ns := netns.New(t, "live") // skips without root or ip(8)
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)
	var pools []*fakepool.Pool
	err := ns.Do(func() error {
		for range 2 {
			p, err := fakepool.Listen("127.0.0.1:0")
			if err != nil {
				return err
			}
			pools = append(pools, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()

	report, alerts := filepath.Join(dir, "report.json"), filepath.Join(dir, "alerts.eve")
	live := ns.Exec(context.Background(), bin, "net", "live", "-i", "lo", "--interval", "1s", "--alerts", alerts, "-f", "json", "-o", report)
	stderr, err := live.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer live.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(what string) []string {
		var seen []string
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("net live ended before %q:\n%s", what, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if strings.Contains(l, what) {
					return seen
				}
			case <-deadline:
				t.Fatalf("no %q from net live:\n%s", what, strings.Join(seen, "\n"))
			}
		}
	}
	waitLine("capturing on lo")

	for i, proto := range []string{"xmr", "stratum"} {
		m := ns.Exec(context.Background(), miner, "-o", "stratum+tcp://"+pools[i].Addr(), "-u", wallet+".rig"+proto,
			"--proto", proto, "--threads", "0", "--share-interval", "200ms", "--max-runtime", "1m")
		m.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { syscall.Kill(-m.Process.Pid, syscall.SIGKILL); m.Wait() }()
	}
	seen := waitLine("ALERT")
	for n := strings.Count(strings.Join(seen, "\n"), "ALERT"); n < 2; n++ {
		seen = append(seen, waitLine("ALERT")...)
	}
	waitLine("dropped by the kernel") // a periodic summary
	live.Process.Signal(syscall.SIGINT)
	err = live.Wait()
	var ee *exec.ExitError
	if err == nil || !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("net live after SIGINT: %v (want exit 1: findings)", err)
	}
	var rep findings.Report
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	dialects := map[string]bool{}
	for _, f := range rep.Findings {
		if f.Rule == "net.stratum" && f.Evidence.Wallet == wallet {
			dialects[f.Evidence.Dialect] = true
		}
	}
	if !dialects[netsense.DialectXMR] || !dialects[netsense.DialectStratum1] {
		t.Errorf("report dialects %v, want both dialects; findings %+v", dialects, rep.Findings)
	}
	eve, _ := os.ReadFile(alerts)
	if n := strings.Count(string(eve), `"event_type":"alert"`); n < 2 {
		t.Errorf("alerts file has %d EVE alerts:\n%s", n, eve)
	}
}

// netPcap runs `minerguard net pcap -f json --fail-on none ARGS...` and
// returns its report.
func netPcap(t *testing.T, bin string, args ...string) findings.Report {
	t.Helper()
	out, _ := exec.Command(bin, append([]string{"net", "pcap", "-f", "json", "--fail-on", "none"}, args...)...).Output()
	var rep findings.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	return rep
}

// buildTools builds minerguard and the fake miner into dir.
func buildTools(t *testing.T, dir string) (bin, miner string) {
	t.Helper()
	bin, miner = filepath.Join(dir, "minerguard"), filepath.Join(dir, "fakeminer")
	for out, pkg := range map[string]string{bin: "../../cmd/minerguard", miner: "../testkit/fakeminer"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	return bin, miner
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
