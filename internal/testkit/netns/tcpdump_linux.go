package netns

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tcpdump starts Debian's tcpdump writing every packet on iface that
// matches filter to file, inside n (nil: the test's own namespace), and
// returns once tcpdump says it is listening, so no early packet is missed.
// stop ends the capture cleanly (SIGINT, so the file is complete) after a
// moment for the last packets to reach it; it is also called when the test
// ends. The test is skipped without tcpdump or root.
func Tcpdump(t testing.TB, n *NS, iface, file, filter string) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump)")
	}
	if os.Geteuid() != 0 {
		t.Skip("capturing packets needs root")
	}
	args := []string{"-i", iface, "--immediate-mode", "-U", "-s", "0", "-w", file, filter}
	var cmd *exec.Cmd
	if n == nil {
		cmd = exec.Command(bin, args...)
	} else {
		cmd = n.Exec(context.Background(), bin, args...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	// tcpdump prints "listening on IFACE" after its filter is attached and
	// the file is open; anything before that is an error message.
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var said []string
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on ") {
				ready <- ""
				io.Copy(io.Discard, stderr)
				return
			}
			said = append(said, sc.Text())
		}
		ready <- strings.Join(said, "\n")
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			time.Sleep(300 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	select {
	case msg := <-ready:
		if msg != "" {
			cmd.Process.Kill()
			t.Fatalf("tcpdump -i %s %s did not start: %s", iface, filter, msg)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("tcpdump -i %s %s: not listening after 10 s", iface, filter)
	}
	return stop
}
