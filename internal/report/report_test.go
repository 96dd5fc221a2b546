package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleReport() *findings.Report {
	uid := 1000
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	rep := &findings.Report{
		Tool: "minerguard", Version: "test", Schema: findings.SchemaVersion,
		Host:    findings.HostInfo{Hostname: "gpu01", OS: "linux", Arch: "amd64", Root: "/", Live: true, Processes: 312},
		Started: t0, Finished: t0.Add(1200 * time.Millisecond), DurationMS: 1200,
		Options: findings.Options{SampleMS: 1000, IntelVer: "2026.11.23"},
		Findings: []findings.Finding{
			{Rule: "process.kthread_mimic", Check: "process.kthread_mimic", Severity: findings.High, Signal: findings.SignalDisguise,
				Title: "User process disguised as kernel thread [kworker/0:2]", Description: "d",
				Evidence:   findings.Evidence{PID: 4242, UID: &uid, User: "alice", Comm: "kworker/0:2", Exe: "/dev/shm/.x/kworker (deleted)", Cmdline: "[kworker/0:2]", CPUPercent: 197.5},
				Confidence: 0.9, Incident: "INC-001"},
			{Rule: "network.mining_port", Check: "network.pool", Severity: findings.Medium, Signal: findings.SignalNetwork,
				Title: "Connection to mining port 3333", Evidence: findings.Evidence{PID: 4242, Remote: "127.0.0.1:3333"}, Confidence: 0.6, Incident: "INC-001"},
			{Rule: "process.cpu.high", Check: "process.cpu", Severity: findings.Low, Signal: findings.SignalResource,
				Title: "cc1 uses 99% CPU", Evidence: findings.Evidence{PID: 777, CPUPercent: 99}, Confidence: 0.3, Incident: "INC-002"},
		},
		Incidents: []findings.Incident{{ID: "INC-001", Severity: findings.Critical, Confidence: 0.96, Title: "kworker/0:2 (pid 4242): disguised, connected to a mining pool",
			Summary: []string{"User process disguised as kernel thread [kworker/0:2]", "Connection to mining port 3333"}, PID: 4242, Exe: "/dev/shm/.x/kworker (deleted)",
			Cmdline: "[kworker/0:2]", Tree: []int{4242, 4250}, Remotes: []string{"127.0.0.1:3333"}, Signals: []findings.Signal{"disguise", "network"},
			Rules: []string{"process.kthread_mimic", "network.mining_port"}, Findings: []int{0, 1}},
			{ID: "INC-002", Severity: findings.Low, Confidence: 0.3, Title: "cc1 (pid 777): suspicious process", Summary: []string{"cc1 uses 99% CPU"}, PID: 777,
				Exe: "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", Tree: []int{777, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, Signals: []findings.Signal{"resource"}, Rules: []string{"process.cpu.high"}, Findings: []int{2}}},
		Checks:   []findings.CheckRun{{ID: "gpu.usage", Status: "skipped", Reason: "no NVIDIA driver"}},
		Warnings: []string{},
	}
	rep.Summarise()
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n%s", name, got)
	}
}

func TestTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sampleReport(), "table", false); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
	if strings.Contains(b.String(), "- cc1 uses 99% CPU") {
		t.Error("a low hint is printed with its details; want one line")
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Error("colour codes without colour")
	}
	var c bytes.Buffer
	if err := Write(&c, sampleReport(), "table", true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.String(), "\x1b[1;97;41mCRITICAL") {
		t.Error("critical verdict not coloured")
	}
}

// TestTableHeader: the first line says what was examined: a live host
// with its processes, a disk image, or network traffic.
func TestTableHeader(t *testing.T) {
	cases := []struct {
		name string
		host findings.HostInfo
		want string
	}{
		{"live host", findings.HostInfo{Hostname: "gpu01", Root: "/", Live: true, Processes: 312}, "minerguard test — host gpu01 (root /), 312 processes, 1200 ms\n"},
		{"disk image", findings.HostInfo{Hostname: "web3", Root: "/mnt/image"}, "minerguard test — host web3 (root /mnt/image), no processes, 1200 ms\n"},
		{"network", findings.HostInfo{Hostname: findings.NetworkHost, Root: "edge.pcap dns.log"}, "minerguard test — network traffic in edge.pcap dns.log, 1200 ms\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := sampleReport()
			rep.Host = c.host
			var b bytes.Buffer
			if err := Write(&b, rep, "table", false); err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(b.String(), "\n"); first+"\n" != c.want {
				t.Errorf("header %q, want %q", first, c.want)
			}
		})
	}
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sampleReport(), "json", false); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", b.Bytes())
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tool", "version", "host", "started", "findings", "incidents"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("top-level key %q missing", k)
		}
	}
	f0 := doc["findings"].([]any)[0].(map[string]any)
	ev := f0["evidence"].(map[string]any)
	if pid, ok := ev["pid"].(float64); !ok || pid != 4242 {
		t.Errorf("evidence.pid = %v, want the number 4242", ev["pid"])
	}
	if f0["severity"] != "high" {
		t.Errorf("severity = %v", f0["severity"])
	}
	var back findings.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("report does not read back: %v", err)
	}
	if back.Incidents[0].Severity != findings.Critical || back.Findings[1].Evidence.Remote != "127.0.0.1:3333" {
		t.Errorf("round trip lost data: %+v", back.Incidents[0])
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, sampleReport(), "xml", false); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("err = %v", err)
	}
}

func TestEVE(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sampleReport(), "eve", false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(sampleReport().Findings) {
		t.Fatalf("%d lines for %d findings", len(lines), len(sampleReport().Findings))
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	alert := e["alert"].(map[string]any)
	if e["event_type"] != "alert" || alert["severity"].(float64) != 1 || alert["category"] != "process.kthread_mimic" || e["timestamp"] != "2026-11-23T10:00:00.000000+0000" {
		t.Errorf("event %s", lines[0])
	}
	if mg := e["minerguard"].(map[string]any); mg["rule"] != "process.kthread_mimic" {
		t.Errorf("finding not carried: %v", mg)
	}
}
