package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

// startArgs runs a shell that sleeps, with args on its command line.
func startArgs(t *testing.T, args ...string) int {
	t.Helper()
	// "; :" keeps the shell from exec'ing sleep, so its argv stays.
	cmd := exec.Command("/bin/sh", append([]string{"-c", "sleep 60; :"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(50 * time.Millisecond)
	return cmd.Process.Pid
}

// goodFeed is a plausible pool list of n names.
func goodFeed(n int) string {
	var b strings.Builder
	b.WriteString("# pool list\n")
	for i := range n {
		fmt.Fprintf(&b, "pool%d.example\n", i)
	}
	b.WriteString("198.51.100.0/24\n2001:db8:77::/48\n")
	return b.String()
}

// cutAfter sends part of body and then drops the connection.
func cutAfter(w http.ResponseWriter, body string, declared int) {
	if declared > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(declared))
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body))
	w.(http.Flusher).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestIntelUpdateRefusesBadFeeds serves good, truncated, malformed, huge
// and hostile lists from 127.0.0.1: each bad one fails with an error
// naming the source (and the line where there is one), and the feed
// stored before stays byte-identical.
func TestIntelUpdateRefusesBadFeeds(t *testing.T) {
	var served atomic.Int64 // bytes the endless handler got out
	hostile := goodFeed(100) +
		strings.Repeat("x", 100_000) + ".example\n" + // very long line
		"\x1b[31mred.example\n" + // terminal escape
		"раураl.com\n" + // Cyrillic homograph of paypal.com
		"*.wild.example\n" + // wildcard: the domain and its subdomains
		"*.co.uk\n" + // public suffix
		"0.0.0.0/0\n::/0\n127.0.0.1\n" // everything, loopback
	handlers := map[string]http.HandlerFunc{
		"/good.txt":    func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(goodFeed(50))) },
		"/hostile.txt": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(hostile)) },
		"/cut-length.txt": func(w http.ResponseWriter, r *http.Request) {
			body := goodFeed(400)
			cutAfter(w, body[:len(body)/2], len(body))
		},
		"/cut-chunked.txt": func(w http.ResponseWriter, r *http.Request) {
			body := goodFeed(400)
			cutAfter(w, body[:len(body)/2], 0)
		},
		"/malformed.txt": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(goodFeed(40) + strings.Repeat("this is not a list line\n", 10)))
		},
		"/page.html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(goodFeed(50)))
		},
		"/login.txt": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain") // a server that lies
			w.Write([]byte("\n<!DOCTYPE html>\n<html><body>Please log in</body></html>\n"))
		},
		"/binary.txt": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("pool1.example\npool2.example\npo\x00ol3.example\n"))
		},
		"/huge.txt": func(w http.ResponseWriter, r *http.Request) {
			line := []byte(strings.Repeat("a", 50) + ".example\n")
			chunk := bytes.Repeat(line, 1000)
			for served.Load() < 512<<20 { // far more than any cap below
				n, err := w.Write(chunk)
				served.Add(int64(n))
				if err != nil {
					return
				}
			}
		},
		"/huge-declared.txt": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(int64(10)<<30))
			w.WriteHeader(http.StatusOK)
		},
		"/missing.txt": http.NotFound,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := handlers[r.URL.Path]; ok {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	state := t.TempDir()
	feedFile := filepath.Join(state, "feeds", "campus.json")
	update := func(path string, extra ...string) (int, string, string) {
		return run(t, append([]string{"intel", "--state-dir", state, "update", "--source", "campus", "--max-size", fmt.Sprint(1 << 20), "--from", srv.URL + path}, extra...)...)
	}
	if code, out, stderr := update("/good.txt"); code != 0 || !strings.Contains(out, "campus: 52 entries") {
		t.Fatalf("good feed: exit %d %q %q", code, out, stderr)
	}
	before, err := os.ReadFile(feedFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want []string // in stderr
	}{
		{"/cut-length.txt", []string{"download cut short", "/cut-length.txt", "unexpected EOF"}},
		{"/cut-chunked.txt", []string{"download cut short", "/cut-chunked.txt"}},
		{"/malformed.txt", []string{"/malformed.txt: 10 of 52 lines", "more than 10%", "/malformed.txt:44: "}},
		{"/page.html", []string{"/page.html: the server sent an HTML page"}},
		{"/login.txt", []string{"/login.txt:2: ", "HTML/XML page"}},
		{"/binary.txt", []string{"/binary.txt:3: NUL byte at column 3"}},
		{"/huge.txt", []string{"/huge.txt: feed exceeds the size cap of 1048576 bytes"}},
		{"/huge-declared.txt", []string{"/huge-declared.txt: feed exceeds the size cap", "Content-Length 10737418240"}},
		{"/missing.txt", []string{"/missing.txt: 404"}},
	}
	for _, tc := range tests {
		code, _, stderr := update(tc.path)
		if code != ExitError {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.path, code, ExitError, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q lacks %q", tc.path, stderr, w)
			}
		}
		if strings.Count(stderr, "\n") > 30 {
			t.Errorf("%s: %d lines of stderr; a hostile list must not flood the terminal", tc.path, strings.Count(stderr, "\n"))
		}
		if after, _ := os.ReadFile(feedFile); !bytes.Equal(before, after) {
			t.Fatalf("%s: the stored feed changed after a refused update", tc.path)
		}
	}
	// The endless feed was read as it streamed, not buffered whole: the
	// client hung up soon after the 1 MiB cap.
	t.Logf("endless feed: server got %d bytes out before the client hung up", served.Load())
	if n := served.Load(); n > 32<<20 {
		t.Errorf("server sent %d bytes before the client gave up on a 1 MiB cap", n)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "feeds", ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A hostile list within the limits is taken, minus its hostile lines,
	// each named with its line number.
	code, _, stderr := update("/hostile.txt")
	if code != 0 {
		t.Fatalf("hostile list: exit %d %q", code, stderr)
	}
	for _, w := range []string{":104: line longer than 4096 bytes", ":105: control character", ":108: domain \"co.uk\" is a public suffix",
		":109: network 0.0.0.0/0 is wider", ":110: network ::/0 is wider", ":111: address 127.0.0.1/32 is special"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("hostile list: stderr lacks %q:\n%s", w, stderr)
		}
	}
	for name, want := range map[string]int{"paypal.com": ExitFindings, "xn--l-7sba6dbr.com": 0, "раураl.com": 0, "a.wild.example": 0, "wild.example": 0, "www.example.co.uk": ExitFindings, "192.0.2.1": ExitFindings} {
		if code, out, _ := run(t, "intel", "--state-dir", state, "lookup", name); code != want {
			t.Errorf("lookup %s after the hostile list: exit %d, want %d (%s)", name, code, want, out)
		}
	}
}

func TestIntelSourcesAndAllow(t *testing.T) {
	state := t.TempDir()
	feed := writeTemp(t, "pool.campus.example\n203.0.113.0/24\n")
	if code, _, stderr := run(t, "intel", "--state-dir", state, "update", "--from", feed, "--source", "campus", "--category", "proxy"); code != 0 {
		t.Fatalf("update: %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "intel", "--state-dir", state, "update", "--from", feed, "--category", "bogus"); code != ExitError || !strings.Contains(stderr, "--category") {
		t.Errorf("bad category: %d %q", code, stderr)
	}
	code, out, _ := run(t, "intel", "--state-dir", state, "sources")
	if code != 0 {
		t.Fatalf("sources: %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "embedded ") || !strings.Contains(lines[1], "pool ") {
		t.Fatalf("sources:\n%s", out)
	}
	if f := strings.Fields(lines[2]); len(f) < 6 || f[0] != "campus" || f[1] != "1" || f[2] != "1" || f[3] != "proxy" || f[4] != "2" || f[6] != feed {
		t.Errorf("campus line %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], "allowlist") || !strings.Contains(lines[3], "0 entries") {
		t.Errorf("allowlist line %q", lines[3])
	}

	if code, out, _ := run(t, "intel", "--state-dir", state, "allow", "--note", "staff proxy", "Gate.Pool.Campus.Example."); code != 0 || out != "allowlisted gate.pool.campus.example\n" {
		t.Fatalf("allow: %d %q", code, out)
	}
	if code, out, _ := run(t, "intel", "--state-dir", state, "allow"); code != 0 || !strings.HasPrefix(out, "gate.pool.campus.example\t20") || !strings.HasSuffix(out, "\tstaff proxy\n") {
		t.Errorf("allow list: %d %q", code, out)
	}
	if code, out, _ := run(t, "intel", "--state-dir", state, "lookup", "x.gate.pool.campus.example"); code != 0 || !strings.Contains(out, "allowlisted by gate.pool.campus.example") {
		t.Errorf("lookup allowed: %d %q", code, out)
	}
	// The allowed subdomain becomes an exception in the resolver formats.
	code, out, _ = run(t, "blocklist", "--state-dir", state, "--format", "dnsmasq")
	if code != 0 || !strings.Contains(out, "address=/pool.campus.example/0.0.0.0\n") || !strings.Contains(out, "server=/gate.pool.campus.example/#\n") {
		t.Errorf("dnsmasq with exception:\n%s", out)
	}
	if code, out, stderr := run(t, "intel", "--state-dir", state, "allow", "--remove", "gate.pool.campus.example"); code != 0 || !strings.Contains(out, "removed gate.pool.campus.example") {
		t.Errorf("allow --remove: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := run(t, "intel", "--state-dir", state, "allow", "--remove", "gate.pool.campus.example"); code != ExitError || !strings.Contains(stderr, "not on the allowlist") {
		t.Errorf("second --remove: %d %q", code, stderr)
	}
	if code, out, _ := run(t, "blocklist", "--state-dir", state, "--format", "dnsmasq"); code != 0 || strings.Contains(out, "server=/") {
		t.Errorf("exception still exported after --remove:\n%s", out)
	}
	// A hand edit gone wrong is an error naming the line, not ignored.
	if err := os.WriteFile(filepath.Join(state, "allow.txt"), []byte("ok.example\nnot a domain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "blocklist", "--state-dir", state, "--format", "domains"); code != ExitError || !strings.Contains(stderr, "allow.txt:2:") {
		t.Errorf("broken allow.txt: %d %q", code, stderr)
	}
}

// TestScanReadsStoredIntel: a pool added by `intel update` is found by
// scan (a process whose command line names it), and allowlisting it
// silences the finding.
func TestScanReadsStoredIntel(t *testing.T) {
	state := t.TempDir()
	if code, _, stderr := run(t, "intel", "--state-dir", state, "update", "--from", writeTemp(t, "feedonly-pool.example\n"), "--source", "t"); code != 0 {
		t.Fatalf("update: %s", stderr)
	}
	pid := startArgs(t, "worker", "-o", "feedonly-pool.example:443")
	scanFor := func() bool {
		out := filepath.Join(t.TempDir(), "r.json")
		code, _, stderr := run(t, "scan", "--intel-dir", state, "--sample", "0", "--checks", "process.cmdline", "--format", "json", "--output", out, "--fail-on", "none")
		if code != 0 {
			t.Fatalf("scan: %d %s", code, stderr)
		}
		b, _ := os.ReadFile(out)
		var rep findings.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		for _, f := range rep.Findings {
			if f.Evidence.PID == pid && f.Rule == "process.cmdline.pool_domain" {
				return true
			}
		}
		return false
	}
	if !scanFor() {
		t.Fatal("scan did not use the stored feed")
	}
	if code, _, _ := run(t, "intel", "--state-dir", state, "allow", "feedonly-pool.example"); code != 0 {
		t.Fatal("allow")
	}
	if scanFor() {
		t.Error("scan reported an allowlisted pool")
	}
}

// TestNetLogsReadsStoredIntel: `net logs` reports a client asking for a
// pool known only from a stored feed, and stops once it is allowlisted.
func TestNetLogsReadsStoredIntel(t *testing.T) {
	state := t.TempDir()
	if code, _, stderr := run(t, "intel", "--state-dir", state, "update", "--from", writeTemp(t, "feedonly-pool.example\n"), "--source", "t"); code != 0 {
		t.Fatalf("update: %s", stderr)
	}
	log := writeTemp(t, "Nov 23 20:40:01 dnsmasq[1234]: query[A] eu.feedonly-pool.example from 10.1.2.3\n")
	if code, out, _ := run(t, "net", "logs", "--format", "json", "--intel-dir", state, log); code != ExitFindings || !strings.Contains(out, `"src_ip": "10.1.2.3"`) {
		t.Errorf("net logs with the feed: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "net", "logs", "--format", "json", "--intel-dir", t.TempDir(), log); code != 0 {
		t.Errorf("net logs without the feed: exit %d, want 0", code)
	}
	if code, _, _ := run(t, "intel", "--state-dir", state, "allow", "feedonly-pool.example"); code != 0 {
		t.Fatal("allow")
	}
	if code, out, _ := run(t, "net", "logs", "--format", "json", "--intel-dir", state, log); code != 0 {
		t.Errorf("net logs after allow: exit %d\n%s", code, out)
	}
	// A broken feed file: a warning, and the embedded intel still works.
	if err := os.WriteFile(filepath.Join(state, "feeds", "t.json"), []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "net", "logs", "--format", "json", "--intel-dir", state, writeTemp(t, "Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3\n"))
	if code != ExitFindings || !strings.Contains(out, `"src_ip": "10.1.2.3"`) || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "t.json") {
		t.Errorf("broken feed: exit %d %q\n%s", code, stderr, out)
	}
	if code, _, stderr := run(t, "blocklist", "--state-dir", state); code != ExitError || !strings.Contains(stderr, "t.json") {
		t.Errorf("blocklist with a broken feed: exit %d %q (must fail, not export without the feed)", code, stderr)
	}
}
