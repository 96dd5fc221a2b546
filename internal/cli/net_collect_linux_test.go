package cli

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestNetCollectSignal: the built binary collects until SIGTERM (and
// SIGINT), then writes its report and exits with the findings code.
func TestNetCollectSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "minerguard")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/minerguard").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			addr := freeUDP(t)
			report := filepath.Join(dir, "report-"+sig.String()+".json")
			cmd := exec.Command(bin, "net", "collect", "--listen", addr, "--intel-dir", dir, "-f", "json", "-o", report)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(stderr.String(), "collecting flows") && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range frames(t, flowFixture("softflowd-v5.mgflow")) {
				c.Write(d)
			}
			c.Close()
			time.Sleep(300 * time.Millisecond)
			cmd.Process.Signal(sig)
			err = cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != ExitFindings {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules(decodeReport(t, string(b))); len(got) != 2 {
				t.Errorf("findings %v", got)
			}
		})
	}
}

// syncBuffer is a buffer the child's output is copied into while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
