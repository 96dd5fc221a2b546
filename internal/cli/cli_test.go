package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// copyExe copies a real program under a miner's name and runs it.
func startNamed(t *testing.T, name string) int {
	t.Helper()
	src, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep")
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, src, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(50 * time.Millisecond)
	return cmd.Process.Pid
}

func TestScanExitCodes(t *testing.T) {
	pid := startNamed(t, "xmrig")
	out := filepath.Join(t.TempDir(), "r.json")

	code, _, stderr := run(t, "scan", "--sample", "0", "--checks", "process.name", "--format", "json", "--output", out, "--fail-on", "high")
	if code != ExitFindings {
		t.Fatalf("exit = %d, want %d (stderr %q)", code, ExitFindings, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep findings.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("--output is not a JSON report: %v", err)
	}
	found := false
	for _, f := range rep.Findings {
		if f.Evidence.PID == pid && f.Rule == "process.name.miner" && f.Severity == findings.High {
			found = true
		}
	}
	if !found {
		t.Errorf("no process.name.miner finding for pid %d in %s", pid, b)
	}

	if code, _, stderr := run(t, "scan", "--sample", "0", "--checks", "process.name", "--fail-on", "none", "--output", "/dev/null"); code != ExitOK {
		t.Errorf("--output /dev/null: exit %d %s", code, stderr)
	}
	if code, _, _ := run(t, "scan", "--sample", "0", "--checks", "process.name", "--fail-on", "none"); code != ExitOK {
		t.Errorf("--fail-on none: exit %d", code)
	}
	if code, stdout, _ := run(t, "scan", "--sample", "0", "--checks", "process.name", "--fail-on", "critical", "--no-color"); code != ExitOK || !strings.Contains(stdout, "xmrig") {
		t.Errorf("--fail-on critical: exit %d, table %q", code, stdout)
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--fail-on", "severe"}, "--fail-on"},
		{[]string{"scan", "--root", "/nonexistent/root"}, "--root"},
		{[]string{"scan", "--checks", "no.such.check"}, "no.such.check"},
		{[]string{"scan", "--format", "xml", "--sample", "0"}, "xml"},
		{[]string{"scan", "--sample", "-1s"}, "--sample"},
		{[]string{"scan", "extra"}, "unknown command"},
	}
	for _, tc := range tests {
		code, _, stderr := run(t, tc.args...)
		if code != ExitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d stderr %q; want %d naming %q", tc.args, code, stderr, ExitError, tc.want)
		}
	}
}

func TestChecksAndVersion(t *testing.T) {
	code, out, _ := run(t, "checks")
	if code != 0 || !strings.Contains(out, "process.name") || !strings.Contains(out, "process.cpu") {
		t.Errorf("checks: %d %q", code, out)
	}
	code, out, _ = run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "minerguard ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestBlocklistCommand(t *testing.T) {
	feed := filepath.Join(t.TempDir(), "feed.txt")
	if err := os.WriteFile(feed, []byte("new-pool.example\n192.0.2.9\nnot a line\n"+strings.Repeat("new-pool.example\n", 9)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "blocklist", "--format", "dnsmasq", "--add", feed)
	if code != 0 || !strings.Contains(out, "address=/xmrig.com/0.0.0.0") || !strings.Contains(out, "address=/new-pool.example/::") {
		t.Errorf("dnsmasq: exit %d\n%s", code, out)
	}
	if !strings.Contains(stderr, "feed.txt:3") {
		t.Errorf("bad feed line not reported: %q", stderr)
	}
	code, out, _ = run(t, "blocklist", "--format", "ips", "--add", feed)
	if code != 0 || strings.TrimSpace(out) != "192.0.2.9" {
		t.Errorf("ips: exit %d %q", code, out)
	}
	if code, _, stderr := run(t, "blocklist", "--format", "pf"); code != ExitError || !strings.Contains(stderr, "pf") {
		t.Errorf("unknown format: exit %d %q", code, stderr)
	}
}

func TestNetPcapCommand(t *testing.T) {
	pcap := filepath.Join("..", "..", "..", "shared", "data", "pcap", "coinhive-stratum.pcap")
	if _, err := os.Stat(pcap); err != nil {
		t.Skipf("shared capture not present: %v", err)
	}
	out := filepath.Join(t.TempDir(), "net.json")
	code, _, stderr := run(t, "net", "pcap", "--format", "json", "--output", out, pcap)
	if code != ExitFindings {
		t.Fatalf("exit %d (%s)", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep findings.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Incidents) != 1 || rep.Incidents[0].Severity != findings.Critical || rep.Findings[0].Evidence.Dialect != "monero-xmrig" {
		t.Errorf("report %s", b)
	}
	if code, _, stderr := run(t, "net", "pcap", "/nonexistent.pcap"); code != ExitError || !strings.Contains(stderr, "nonexistent") {
		t.Errorf("missing file: exit %d %q", code, stderr)
	}
}

// The net report follows the same JSON Schema as scan's.
func TestNetPcapReportMatchesSchema(t *testing.T) {
	pcap := filepath.Join("..", "..", "..", "shared", "data", "pcap", "bitcoin-mining.pcap")
	if _, err := os.Stat(pcap); err != nil {
		t.Skipf("shared capture not present: %v", err)
	}
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(filepath.Join("..", "..", "docs", "findings.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ := run(t, "net", "pcap", "--format", "json", pcap)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("net report does not match the schema: %v", err)
	}
}

// TestIntelUpdateAndBlocklist: a feed served over HTTP on loopback is
// stored, a cut-short download changes nothing, lookup explains matches,
// and the allowlist wins in the exported block list.
func TestIntelUpdateAndBlocklist(t *testing.T) {
	state := t.TempDir()
	feed := "new-pool.example\nrelay.research.example\n192.0.2.0/24\n"
	cut := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut {
			// Promise more than is sent: a broken download.
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte("a.example\n"))
			return
		}
		w.Write([]byte(feed))
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	code, out, stderr := run(t, "intel", "--state-dir", state, "update", "--from", srv.URL+"/list.txt", "--source", "campus")
	if code != 0 || !strings.Contains(out, "campus: 3 entries (3 added, 0 removed)") {
		t.Fatalf("update: exit %d %q %q", code, out, stderr)
	}
	cut = true
	if code, _, stderr := run(t, "intel", "--state-dir", state, "update", "--from", srv.URL+"/list.txt", "--source", "campus"); code != ExitError || !strings.Contains(stderr, "download") {
		t.Errorf("cut-short download: exit %d %q", code, stderr)
	}
	code, out, _ = run(t, "intel", "--state-dir", state, "lookup", "eu.new-pool.example")
	if code != 0 || !strings.Contains(out, "feed campus: new-pool.example (pool") {
		t.Errorf("lookup: %d %q", code, out)
	}
	if code, out, _ := run(t, "intel", "--state-dir", state, "lookup", "pool.xmrig.com"); code != 0 || !strings.Contains(out, "embedded intel") {
		t.Errorf("lookup embedded: %d %q", code, out)
	}
	if code, out, _ := run(t, "intel", "--state-dir", state, "lookup", "www.example.org"); code != ExitFindings || !strings.Contains(out, "not listed") {
		t.Errorf("lookup unlisted: %d %q", code, out)
	}
	if code, _, _ := run(t, "intel", "--state-dir", state, "allow", "research.example"); code != 0 {
		t.Fatal("allow failed")
	}
	code, out, _ = run(t, "blocklist", "--state-dir", state, "--format", "domains", "--add", writeTemp(t, "mirror.research.example\n"))
	if code != 0 || !strings.Contains(out, "new-pool.example\n") || strings.Contains(out, "research.example") {
		t.Errorf("blocklist with feed and allowlist:\n%s", out)
	}
	if code, out, _ := run(t, "blocklist", "--state-dir", state, "--format", "ips"); code != 0 || !strings.Contains(out, "192.0.2.0/24") {
		t.Errorf("feed networks missing: %q", out)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNetLogsCommand(t *testing.T) {
	log := writeTemp(t, "Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3\nNov 23 20:40:02 dnsmasq[1234]: query[A] www.example.org from 10.1.2.4\n")
	code, out, _ := run(t, "net", "logs", "--format", "json", log)
	if code != ExitFindings || !strings.Contains(out, `"src_ip": "10.1.2.3"`) || strings.Contains(out, "10.1.2.4") {
		t.Errorf("net logs: exit %d\n%s", code, out)
	}
	code, _, _ = run(t, "net", "logs", "--fail-on", "none", writeTemp(t, "nothing to see\n"))
	if code != 0 {
		t.Errorf("unknown format: exit %d", code)
	}
}

// TestNetReadsStdin: "-" reads standard input (zcat or tcpdump -w - in a
// pipe), gzipped or not, and the report calls it stdin.
func TestNetReadsStdin(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3\n"))
	w.Close()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetIn(&gz)
	root.SetArgs([]string{"net", "logs", "--format", "json", "-"})
	err := root.ExecuteContext(context.Background())
	var ee exitError
	if !errors.As(err, &ee) || ee.code != ExitFindings {
		t.Fatalf("exit %v, stderr %s", err, errb.String())
	}
	var rep findings.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Host.Root != "stdin" || len(rep.Findings) != 1 || rep.Findings[0].Evidence.SrcIP != "10.1.2.3" {
		t.Errorf("report root %q findings %+v", rep.Host.Root, rep.Findings)
	}
}

// TestNetInterrupted: a run interrupted (SIGINT cancels the context)
// still writes the report of what it read, says it is incomplete, and
// fails.
func TestNetInterrupted(t *testing.T) {
	log := writeTemp(t, "Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3\n")
	report := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs([]string{"net", "logs", "--format", "json", "-o", report, log})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err %v, want interrupted", err)
	}
	b, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("no report written: %v", rerr)
	}
	var rep findings.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.HasPrefix(rep.Warnings[0], "interrupted while reading "+log) {
		t.Errorf("warnings %q", rep.Warnings)
	}
}

// TestNetTraceToOwner: a client seen in a resolver log is traced through
// its DHCP lease and the inventory to a machine, owner and room.
func TestNetTraceToOwner(t *testing.T) {
	log := writeTemp(t, "Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.20.0.15\n")
	leases := writeTemp(t, "1763935200 aa:bb:cc:00:00:01 10.20.0.15 gpu07 *\n")
	inv := writeTemp(t, "ip,hostname,owner,department,location,contact\n10.20.0.0/16,,Network team,IT,Data centre A,noc@example.edu\n10.20.0.15,gpu07,Dr. Li,Physics,Building 3 room 201,li@example.edu\n")
	code, out, stderr := run(t, "net", "logs", "--format", "json", "--leases", leases, "--inventory", inv, log)
	if code != ExitFindings {
		t.Fatalf("exit %d %s", code, stderr)
	}
	var rep findings.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Findings[0].Evidence.Details
	if d["host"] != "gpu07" || d["owner"] != "Dr. Li" || d["location"] != "Building 3 room 201" || d["mac"] != "aa:bb:cc:00:00:01" || d["contact"] != "li@example.edu" {
		t.Errorf("details %v", d)
	}
	if !strings.Contains(rep.Incidents[0].Title, "gpu07, Dr. Li, Physics, Building 3 room 201") {
		t.Errorf("incident title %q", rep.Incidents[0].Title)
	}
	if code, _, stderr := run(t, "net", "logs", "--inventory", writeTemp(t, "name\nx\n"), log); code != ExitError || !strings.Contains(stderr, "no ip or cidr column") {
		t.Errorf("bad inventory: exit %d %q", code, stderr)
	}
}

func TestHardenCommand(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config"), []byte("PermitRootLogin yes\n"), 0o644)
	code, out, _ := run(t, "harden", "--root", root, "--only", "ssh.root_login", "--format", "json")
	if code != ExitFindings || !strings.Contains(out, `"status": "fail"`) || !strings.Contains(out, "PermitRootLogin prohibit-password") {
		t.Errorf("weak root: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config"), []byte("PermitRootLogin no\n"), 0o644)
	if code, out, _ := run(t, "harden", "--root", root, "--only", "ssh.root_login"); code != 0 || !strings.HasPrefix(out, "PASS") {
		t.Errorf("hardened root: exit %d %q", code, out)
	}
	if code, _, stderr := run(t, "harden", "--only", "no.such.item"); code != ExitError || !strings.Contains(stderr, "no.such.item") {
		t.Errorf("unknown item: exit %d %q", code, stderr)
	}
}

func TestHardenWindowsScriptAndFlags(t *testing.T) {
	code, out, stderr := run(t, "harden", "--script", "powershell", "--skip", "win.rdp")
	if code != 0 || !strings.Contains(out, "param(") || !strings.Contains(out, "Add-BlockRule 'minerguard-high-risk-ports-udp'") || strings.Contains(out, "# win.rdp:") {
		t.Errorf("--script powershell: exit %d %q\n%.400s", code, stderr, out)
	}
	if code, out2, _ := run(t, "harden", "--format", "ps1", "--skip", "win.rdp"); code != 0 || out2 != out {
		t.Errorf("--format ps1 differs from --script powershell (exit %d)", code)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"harden", "--script", "bash"}, "only powershell"},
		{[]string{"harden", "--script", "powershell", "--apply"}, "does not combine"},
		{[]string{"harden", "--apply", "--rollback"}, "exclude each other"},
		{[]string{"harden", "--apply", "--root", t.TempDir()}, "not confirmed"},
		{[]string{"harden", "--script", "powershell", "--only", "ssh.root_login"}, "no Windows item selected"},
	} {
		if code, _, stderr := run(t, tc.args...); code != ExitError || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, stderr, tc.msg)
		}
	}
}

func TestNetWorkHoursFlags(t *testing.T) {
	log := writeTemp(t, "Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3\n")
	for _, args := range [][]string{{"--work-hours", "20-08"}, {"--work-hours", "x"}, {"--tz", "Mars/Olympus"}} {
		if code, _, stderr := run(t, append(append([]string{"net", "logs"}, args...), log)...); code != ExitError || !strings.Contains(stderr, args[0]) {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
	if code, _, _ := run(t, "net", "logs", "--work-hours", "09-18", "--tz", "Asia/Shanghai", "--fail-on", "none", log); code != 0 {
		t.Errorf("valid flags: exit %d", code)
	}
}
