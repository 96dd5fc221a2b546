//go:build linux

// The no-false-alarm harness: a real Debian bookworm system (debootstrap
// minbase, internal/testkit/debroot), pristine and with the customisations
// admins really make, scanned offline like `minerguard scan --root`.
// Nothing may come out at medium or above. Every file check that lands on
// main runs here automatically, because the scan runs all default checks.
package scan_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/scan"
	"github.com/minerguard/minerguard/internal/testkit/debroot"
)

func TestNoFalseAlarmsDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("scans a full Debian tree")
	}
	pristine := debroot.Ensure(t)
	t.Run("pristine", func(t *testing.T) { assertQuiet(t, pristine) })
	t.Run("customised", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "root")
		// cp -a keeps links, modes and owners as a real system has them.
		if out, err := exec.Command("cp", "-a", pristine, dir).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v\n%s", err, out)
		}
		customise(t, dir)
		assertQuiet(t, dir)

		// Control: the same tree with a planted miner container and a
		// preload rootkit must be loud, or the harness proves nothing.
		if err := os.WriteFile(filepath.Join(dir, "etc/ld.so.preload"), []byte("/usr/local/lib/libnetc.so\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "var/lib/docker/containers", rootCtrID, "config.v2.json")
		if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, []byte(`{"ID":"`+rootCtrID+`","Name":"/x","Path":"/xmrig","Args":["-o","stratum+tcp://198.51.100.7:3333"],"Config":{"Image":"xmrig/xmrig"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := host.Offline(dir)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := scan.Run(context.Background(), h, scan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		loud := map[string]bool{}
		for _, f := range rep.Findings {
			if f.Severity >= findings.High {
				loud[f.Rule] = true
			}
		}
		if !loud["process.preload.file"] || !loud["containers.config.miner"] {
			t.Fatalf("planted artefacts not found in the Debian tree: %+v", rep.Findings)
		}
	})
}

// assertQuiet scans root offline and fails on any finding or incident of
// medium severity or worse, printing them all.
func assertQuiet(t *testing.T, root string) {
	t.Helper()
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(context.Background(), h, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range rep.Checks {
		if c.Status == "ok" {
			ran++
		}
		if c.Status == "error" {
			t.Errorf("check %s failed on a clean system: %s", c.ID, c.Reason)
		}
	}
	if ran == 0 {
		t.Fatal("no check ran")
	}
	var loud []string
	for _, f := range rep.Findings {
		if f.Severity >= findings.Medium {
			loud = append(loud, fmt.Sprintf("%s %s: %s\n    evidence: path=%s line=%d content=%q paths=%v match=%v",
				f.Severity, f.Rule, f.Title, f.Evidence.Path, f.Evidence.Line, f.Evidence.Content, f.Evidence.Paths, f.Evidence.Match))
		}
	}
	for _, inc := range rep.Incidents {
		if inc.Severity >= findings.Medium {
			loud = append(loud, fmt.Sprintf("incident %s %s: %s (rules %v)", inc.Severity, inc.ID, inc.Title, inc.Rules))
		}
	}
	if len(loud) > 0 {
		t.Errorf("false alarms on a normal Debian system (%d checks ran):\n%s", ran, strings.Join(loud, "\n"))
	}
	for _, w := range rep.Warnings {
		if strings.Contains(w, root) {
			t.Errorf("warning leaks the scanned directory: %s", w)
		}
	}
	t.Logf("%d checks ran, %d findings (none may be medium or worse), %d warnings, %d ms", ran, len(rep.Findings), len(rep.Warnings), rep.DurationMS)
}

// customise adds what admins of research and web servers add to a system.
func customise(t *testing.T, root string) {
	t.Helper()
	write := func(p string, mode os.FileMode, content string) {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	// A nightly backup that uploads over HTTPS with curl.
	write("/etc/cron.d/backup", 0o644, `# Nightly database backup, uploaded to the backup service.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
MAILTO=ops@example.org
30 2 * * * root tar czf /var/backups/www-$(date +\%F).tgz /var/www && curl -fsS --retry 3 -T /var/backups/www-$(date +\%F).tgz https://backup.example.org/upload/ >/dev/null
`)
	write("/usr/local/sbin/backup-prune", 0o755, "#!/bin/sh\nfind /var/backups -name 'www-*.tgz' -mtime +14 -delete\n")
	// JupyterLab for a research group, as a systemd service.
	write("/etc/systemd/system/jupyter.service", 0o644, `[Unit]
Description=JupyterLab for the data group
After=network-online.target

[Service]
Type=simple
User=jupyter
WorkingDirectory=/srv/notebooks
Environment=JUPYTER_CONFIG_DIR=/etc/jupyter
ExecStart=/opt/conda/bin/jupyter-lab --no-browser --ip=0.0.0.0 --port=8888 --notebook-dir=/srv/notebooks
Restart=on-failure

[Install]
WantedBy=multi-user.target
`)
	write("/opt/conda/bin/jupyter-lab", 0o755, "#!/opt/conda/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom jupyterlab.labapp import main\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n")
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system/multi-user.target.wants"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/systemd/system/jupyter.service", filepath.Join(root, "etc/systemd/system/multi-user.target.wants/jupyter.service")); err != nil {
		t.Fatal(err)
	}
	write("/etc/passwd", 0o644, readFile(t, filepath.Join(root, "etc/passwd"))+"jupyter:x:998:998:JupyterLab:/srv/notebooks:/usr/sbin/nologin\n")
	// An admin's ssh key.
	write("/root/.ssh/authorized_keys", 0o600, ed25519Key(t)+" alice@laptop\n")
	// A web app with WebAssembly and analytics.
	write("/var/www/html/index.html", 0o644, `<!doctype html><html><head><title>Image tools</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123XYZ9"></script>
<script src="/js/analytics.js"></script><script src="/js/app.js"></script></head>
<body><canvas id="c"></canvas></body></html>
`)
	write("/var/www/html/js/analytics.js", 0o644, `window.dataLayer = window.dataLayer || [];
function gtag(){dataLayer.push(arguments);}
gtag('js', new Date());
gtag('config', 'G-ABC123XYZ9', { anonymize_ip: true });
`)
	write("/var/www/html/js/app.js", 0o644, `// Resize images in the browser with a WebAssembly module.
const workers = navigator.hardwareConcurrency || 4;
WebAssembly.instantiateStreaming(fetch('/wasm/resize.wasm'), {}).then(({instance}) => {
  window.resize = instance.exports.resize;
});
`)
	write("/var/www/html/wasm/resize.wasm", 0o644, string(wasmModule()))
	// A compiled tool (a static Go binary, like most miners are).
	installTool(t, filepath.Join(root, "usr/local/bin/gofmt"))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ed25519Key returns a real-format "ssh-ed25519 AAAA..." public key.
func ed25519Key(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), pub} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob)
}

// wasmModule is a valid module exporting one function (i32,i32)->i32.
func wasmModule() []byte {
	return []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
		0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32,i32)->i32
		0x03, 0x02, 0x01, 0x00, // function 0 has type 0
		0x07, 0x0a, 0x01, 0x06, 'r', 'e', 's', 'i', 'z', 'e', 0x00, 0x00, // export "resize"
		0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // body: a+b
	}
}

// installTool copies the Go toolchain's gofmt, a real statically linked Go
// program (the build most miners have), into the tree as an admin would.
func installTool(t *testing.T, dst string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "bin", "gofmt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkScanRootDebian measures `minerguard scan --root` of the
// pristine minbase tree (target: 2 s on 2 cores).
func BenchmarkScanRootDebian(b *testing.B) {
	root := debroot.Ensure(b)
	h, err := host.Offline(root)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	findingsN := 0
	for b.Loop() {
		rep, err := scan.Run(ctx, h, scan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		findingsN = len(rep.Findings)
	}
	b.ReportMetric(float64(findingsN), "findings")
}
