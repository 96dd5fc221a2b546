package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel/overlay"
	"github.com/minerguard/minerguard/internal/testkit/mmdb"
	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
)

func flowFixture(name string) string {
	return filepath.Join("..", "netsense", "flow", "testdata", name)
}

func decodeReport(t *testing.T, out string) findings.Report {
	t.Helper()
	var rep findings.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out)
	}
	return rep
}

func rules(rep findings.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, fmt.Sprintf("%s %s->%s:%d", f.Rule, f.Evidence.SrcIP, f.Evidence.DstIP, f.Evidence.DstPort))
	}
	return out
}

func TestNetFlowsCommand(t *testing.T) {
	state := t.TempDir()
	common := []string{"net", "flows", "--intel-dir", state, "--work-hours", "08-20", "--tz", "UTC"}
	leases := writeTemp(t, "1795000000 aa:bb:cc:00:00:23 10.0.0.23 lab-pc23 *\n")
	inv := writeTemp(t, "ip,hostname,owner,department,location,contact\n10.0.0.23,lab-pc23,Dr. Wang,Chemistry,Building 5 room 12,wang@example.edu\n")
	code, out, stderr := run(t, append(common, "--format", "json", "--leases", leases, "--inventory", inv, flowFixture("zeek/conn.log"))...)
	if code != ExitFindings {
		t.Fatalf("exit %d %s", code, stderr)
	}
	rep := decodeReport(t, out)
	if len(rep.Findings) != 6 || len(rep.Incidents) != 2 || rep.Checks[0].ID != "net.flows" {
		t.Fatalf("findings %v incidents %d", rules(rep), len(rep.Incidents))
	}
	in := rep.Incidents[0]
	if !strings.Contains(in.Title, "10.0.0.23 (lab-pc23, Dr. Wang, Chemistry, Building 5 room 12)") || in.Severity != findings.Medium || len(in.Remotes) != 2 {
		t.Errorf("incident %+v", in)
	}
	for _, f := range rep.Findings {
		if f.Evidence.SrcIP == "10.0.0.23" && (f.Evidence.Details["owner"] != "Dr. Wang" || f.Evidence.Details["mac"] != "aa:bb:cc:00:00:23") {
			t.Errorf("%s not traced: %v", f.Rule, f.Evidence.Details)
		}
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "conn.log: line 80") {
		t.Errorf("warnings %v", rep.Warnings)
	}
	// The report follows the findings schema.
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "..", "docs", "findings.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err := sch.Validate(doc); err != nil {
		t.Errorf("report does not match the schema: %v", err)
	}

	// Ordinary traffic: nothing, exit 0.
	code, out, _ = run(t, append(common, "-f", "json", flowFixture("ordinary/conn.log"), flowFixture("ordinary/eve.json"))...)
	if rep := decodeReport(t, out); code != 0 || len(rep.Findings) != 0 || len(rep.Warnings) != 0 {
		t.Errorf("ordinary traffic: exit %d findings %v warnings %v", code, rules(rep), rep.Warnings)
	}

	// A feed in the state directory makes the EVE destination a pool; the
	// allowlist takes it back.
	s := overlay.Store{Dir: state}
	entries, _, err := overlay.Parse(strings.NewReader("203.0.113.0/24\n"), "campus.txt", "pool", time.Now(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("campus", "campus.txt", entries, time.Now(), false); err != nil {
		t.Fatal(err)
	}
	_, out, _ = run(t, append(common, "-f", "json", flowFixture("eve/eve.json"))...)
	if got := rules(decodeReport(t, out)); len(got) != 1 || got[0] != "net.flow_pool_ip 10.0.0.50->203.0.113.77:4444" {
		t.Errorf("with feed: %v", got)
	}
	if _, err := s.Allow("203.0.113.0/24", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, out, _ = run(t, append(common, "-f", "json", flowFixture("eve/eve.json"))...)
	if got := rules(decodeReport(t, out)); len(got) != 1 || got[0] != "net.flow_mining_port 10.0.0.50->203.0.113.77:4444" {
		t.Errorf("allowlisted: %v", got)
	}

	// EVE output, softflowd exports, and errors.
	if code, out, _ := run(t, append(common, "-f", "eve", flowFixture("softflowd-v10.mgflow"))...); code != ExitFindings || !strings.Contains(out, `"event_type":"alert"`) && !strings.Contains(out, `"event_type": "alert"`) {
		t.Errorf("eve output: exit %d\n%s", code, out)
	}
	if code, _, stderr := run(t, append(common, writeTemp(t, "\x7fELF"))...); code != ExitError || !strings.Contains(stderr, "not a flow file") {
		t.Errorf("binary input: exit %d %q", code, stderr)
	}
}

// frames returns the datagrams of a collector file.
func frames(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = b[len("MGFLOW1\n"):]
	var out [][]byte
	for len(b) >= 30 {
		n := int(binary.BigEndian.Uint32(b[26:]))
		out = append(out, b[30:30+n])
		b = b[30+n:]
	}
	return out
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestNetCollectCommand: datagrams exported by softflowd, sent over
// loopback together with a broken one, are judged when --duration ends;
// the --write file reads back to the same findings.
func TestNetCollectCommand(t *testing.T) {
	addr := freeUDP(t)
	keep := filepath.Join(t.TempDir(), "keep.mgflow")
	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := run(t, "net", "collect", "--listen", addr, "--duration", "2s", "--every", "500ms", "--intel-dir", t.TempDir(), "--write", keep, "-f", "json")
		done <- result{code, out, stderr}
	}()
	time.Sleep(500 * time.Millisecond)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range append(frames(t, flowFixture("softflowd-v9.mgflow")), []byte{0, 9, 0, 1, 2}) {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.code != ExitFindings {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	rep := decodeReport(t, r.out)
	got := rules(rep)
	if len(got) != 2 || got[0] != "net.flow_mining_port 10.0.2.15->74.84.128.158:3333" && got[1] != "net.flow_mining_port 10.0.2.15->74.84.128.158:3333" {
		t.Errorf("findings %v", got)
	}
	if !strings.Contains(rep.Checks[0].Reason, "3 datagrams, 30 records, 1 malformed") || len(rep.Warnings) != 1 {
		t.Errorf("counters %q warnings %v", rep.Checks[0].Reason, rep.Warnings)
	}
	if !strings.Contains(r.stderr, "flow summary") || !strings.Contains(r.stderr, "malformed flow datagram") {
		t.Errorf("log:\n%s", r.stderr)
	}
	_, out, _ := run(t, "net", "flows", "--intel-dir", t.TempDir(), "-f", "json", keep)
	if again := rules(decodeReport(t, out)); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("--write file reads back to %v, want %v", again, got)
	}
}

// TestNetNATTrace: an edge sensor sees only the NAT's public address; the
// router's conntrack log turns it back into the inside host, which the
// inventory then names.
func TestNetNATTrace(t *testing.T) {
	conn := writeTemp(t, "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\n"+
		"1795000100.000000\tCabc\t203.0.113.1\t61000\t198.51.100.20\t3333\ttcp\t-\t7200.0\t40800\t130000\tSF\n")
	nat := writeTemp(t, "[1795000000.250000]\t    [NEW] tcp      6 120 SYN_SENT src=10.0.0.23 dst=198.51.100.20 sport=41234 dport=3333 [UNREPLIED] src=198.51.100.20 dst=203.0.113.1 sport=3333 dport=61000\n"+
		"[1795007400.000000]\t[DESTROY] tcp      6 src=10.0.0.23 dst=198.51.100.20 sport=41234 dport=3333 src=198.51.100.20 dst=203.0.113.1 sport=3333 dport=61000\n")
	inv := writeTemp(t, "ip,hostname,owner,department,location,contact\n10.0.0.23,lab-pc23,Dr. Wang,Chemistry,Building 5 room 12,wang@example.edu\n")
	code, out, stderr := run(t, "net", "flows", "--intel-dir", t.TempDir(), "--format", "json", "--nat", nat, "--inventory", inv, conn)
	if code != ExitFindings {
		t.Fatalf("exit %d %s", code, stderr)
	}
	rep := decodeReport(t, out)
	traced := 0
	for _, f := range rep.Findings {
		d := f.Evidence.Details
		if d["nat_inside"] == "10.0.0.23:41234" && d["owner"] == "Dr. Wang" && strings.Contains(f.Title, "behind NAT") {
			traced++
		}
	}
	if traced == 0 {
		t.Fatalf("no finding traced through the NAT log: %+v", rep.Findings)
	}
}

// TestNetForeignDestinations: with the user's country database, a weak
// signal to a pool abroad is raised and marked; one at home stays low.
func TestNetForeignDestinations(t *testing.T) {
	b, err := mmdb.Write(map[netip.Prefix]string{netip.MustParsePrefix("198.51.100.0/24"): "DE", netip.MustParsePrefix("203.0.113.0/24"): "CN"})
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "country.mmdb")
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Two connections to a weak mining port: one to Germany, one at home.
	conn := writeTemp(t, "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\n"+
		"1795000100.000000\tC1\t10.0.0.23\t50000\t198.51.100.20\t6666\ttcp\t-\t7200.0\t40800\t130000\tSF\n"+
		"1795000100.000000\tC2\t10.0.0.24\t50001\t203.0.113.20\t6666\ttcp\t-\t7200.0\t40800\t130000\tSF\n")
	code, out, stderr := run(t, "net", "flows", "--intel-dir", t.TempDir(), "--format", "json", "--fail-on", "none", "--geoip", db, "--home", "CN", conn)
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	rep := decodeReport(t, out)
	got := map[string]findings.Finding{}
	for _, f := range rep.Findings {
		got[f.Evidence.DstIP] = f
	}
	de, cn := got["198.51.100.20"], got["203.0.113.20"]
	if de.Evidence.Details["dst_country"] != "DE" || de.Evidence.Details["foreign"] != "true" || !strings.Contains(de.Title, "abroad: DE") {
		t.Errorf("foreign destination not marked: %+v", de)
	}
	if cn.Evidence.Details["dst_country"] != "CN" || cn.Evidence.Details["foreign"] != "" {
		t.Errorf("home destination marked: %+v", cn)
	}
	if de.Severity <= cn.Severity {
		t.Errorf("abroad %s not above home %s", de.Severity, cn.Severity)
	}
	if code, _, stderr := run(t, "net", "flows", "--geoip", db, conn); code != ExitError || !strings.Contains(stderr, "--home") {
		t.Errorf("--geoip without --home: exit %d %s", code, stderr)
	}
}
