//go:build linux

package respond_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/testkit/fstree"

	"github.com/minerguard/minerguard/internal/cli"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/respond"
	"github.com/minerguard/minerguard/internal/scan"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the fixture has files of other owners, xattrs and immutable flags")
	}
}

// run calls the real command line in-process.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, &out, &errb)
	return out.String() + errb.String(), code
}

func scanRoot(t *testing.T, root string) *findings.Report {
	t.Helper()
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(context.Background(), h, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// above lists findings above low that clean is responsible for (hardening
// advice and scanner status are harden's and nobody's).
func above(rep *findings.Report, sev findings.Severity) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Severity > sev && f.Signal != findings.SignalHardening && f.Signal != findings.SignalStatus {
			out = append(out, f.Severity.String()+" "+f.Rule+" "+f.Evidence.Path+" "+f.Title)
		}
	}
	for _, in := range rep.Incidents {
		if in.Severity > sev {
			out = append(out, "incident "+in.ID+" "+in.Severity.String()+" "+in.Title)
		}
	}
	return out
}

// TestCleanRootThenUndo is the acceptance test on an offline root: clean
// --apply leaves nothing above low, keeps the owners' own lines and files,
// and undo gives back a tree identical in content, modes, owners, mtimes,
// xattrs and flags.
func TestCleanRootThenUndo(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	state := t.TempDir()
	t.Cleanup(func() { clearFlags(root) })
	writeInfected(t, root)
	before := fstree.Snapshot(t, root)
	if got := above(scanRoot(t, root), findings.Low); len(got) < 8 {
		t.Fatalf("the fixture should be badly infected, scan found only:\n%s", strings.Join(got, "\n"))
	}

	// A dry run changes nothing.
	out, code := run(t, "clean", "--root", root, "--state-dir", state)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if d := fstree.Diff(before, fstree.Snapshot(t, root)); len(d) > 0 {
		t.Fatalf("dry run changed the tree:\n%s", strings.Join(d, "\n"))
	}

	out, code = run(t, "clean", "--root", root, "--state-dir", state, "--apply", "--yes")
	if code != 0 {
		t.Fatalf("clean --apply: exit %d\n%s", code, out)
	}
	if left := above(scanRoot(t, root), findings.Low); len(left) > 0 {
		t.Fatalf("after clean, still above low:\n%s\n\nclean said:\n%s", strings.Join(left, "\n"), out)
	}
	// Precise removal: the owners' own lines and files stay byte-identical.
	wantFiles := map[string]string{
		"var/spool/cron/crontabs/root":  "# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup.sh\n",
		"var/spool/cron/crontabs/alice": "# alice's own jobs\n30 2 * * * /home/alice/bin/sync-data\n",
		"root/.bashrc":                  "alias ll='ls -l'\nexport PATH=$PATH:/opt/tools\n",
		"root/.ssh/authorized_keys":     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop\n",
		"etc/cron.d/8220":               "SHELL=/bin/sh\n",
		"var/www/html/index.html":       "<html><head><title>Lab</title>\n</head><body>Welcome to the lab</body></html>\n",
		"home/alice/notes.txt":          "nothing here\n",
		"usr/local/bin/backup.sh":       "#!/bin/sh\ntar czf /backup/etc.tgz /etc\n",
	}
	for p, want := range wantFiles {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != want {
			t.Errorf("%s after clean = %q (%v), want %q", p, b, err, want)
		}
	}
	for _, gone := range []string{"tmp/.x/kworkerds", "tmp/.x/config.json", "root/.sysupdate/sysupdate", "etc/systemd/system/sysupdate.service",
		"etc/systemd/system/multi-user.target.wants/sysupdate.service"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s still there after clean", gone)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/ssh.service")); err != nil {
		t.Errorf("the ssh unit's link was removed: %v", err)
	}
	shadow, _ := os.ReadFile(filepath.Join(root, "etc/shadow"))
	if !strings.Contains(string(shadow), "sysupd:!$6$mno$pqr:") || !strings.Contains(string(shadow), "alice:$6$ghi$jkl:") {
		t.Errorf("backdoor account not locked, or another account touched:\n%s", shadow)
	}
	// Quarantined files are in the vault, scrambled: no ELF, no miner strings.
	runs, err := respond.Runs(state)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	blobs, _ := filepath.Glob(filepath.Join(runs[0], "blobs", "*"))
	if len(blobs) == 0 {
		t.Fatal("no vault blobs")
	}
	for _, b := range blobs {
		data, _ := os.ReadFile(b)
		st, _ := os.Stat(b)
		if bytes.Contains(data, []byte("\x7fELF")) || bytes.Contains(data, []byte("XMRig")) || st.Mode()&0o111 != 0 {
			t.Errorf("vault blob %s is runnable or readable as the miner (mode %v)", b, st.Mode())
		}
	}
	if st, err := os.Stat(runs[0]); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("run dir mode %v (%v), want 0700", st.Mode(), err)
	}

	// A second apply finds nothing more to do.
	out, code = run(t, "clean", "--root", root, "--state-dir", state, "--apply", "--yes")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("second clean: exit %d\n%s", code, out)
	}

	out, code = run(t, "undo", "--root", root, "--state-dir", state, runs[0])
	if code != 0 {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	if d := fstree.Diff(before, fstree.Snapshot(t, root)); len(d) > 0 {
		t.Fatalf("undo did not restore the tree:\n%s", strings.Join(d, "\n"))
	}
	// Undoing twice is refused without touching anything.
	if out, code = run(t, "undo", "--root", root, "--state-dir", state, runs[0]); code == 0 {
		t.Errorf("second undo succeeded:\n%s", out)
	}
}

// TestPlanJSON: the plan is reviewable as JSON and ties every action to
// the findings it answers.
func TestPlanJSON(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	t.Cleanup(func() { clearFlags(root) })
	writeInfected(t, root)
	out, code := run(t, "clean", "--root", root, "--state-dir", t.TempDir(), "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var p respond.Plan
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	kinds := map[respond.Kind]int{}
	for _, a := range p.Actions {
		kinds[a.Kind]++
		if a.Kind != respond.KindAdvise && len(a.Findings) == 0 {
			t.Errorf("action %q answers no finding", a.Title)
		}
	}
	for _, k := range []respond.Kind{respond.KindRemoveLines, respond.KindQuarantine, respond.KindLockAccount} {
		if kinds[k] == 0 {
			t.Errorf("no %s action in plan: %v", k, kinds)
		}
	}
	if p.Host.MachineID != "5f2b1c3d4e5f60718293a4b5c6d7e8f9" || p.Host.Hostname != "gpu07" {
		t.Errorf("plan host = %+v", p.Host)
	}
}
