package respond

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/sigscan"
)

// Undo reverts every change a journal recorded, newest first: files come
// back byte for byte with owner, mode, times, xattrs and flags, links are
// recreated, removed lines return, and processes still frozen are resumed.
// Killed processes are not restarted. Undo is itself journalled and can be
// run again after a crash.
func (a *Applier) Undo(ctx context.Context) ([]Result, error) {
	a.vault = &Vault{Dir: a.Journal.Dir}
	a.st = a.Journal.status()
	if a.st.undoEnd {
		return nil, fmt.Errorf("%s: already undone", a.Journal.Dir)
	}
	plan := a.Journal.Plan()
	if err := a.checkHost(plan); err != nil {
		return nil, err
	}
	if !a.st.undoing {
		if err := a.Journal.Append(Record{Type: recUndoBegin, Action: -1}); err != nil {
			return nil, err
		}
	}
	if a.Host.Proc() != nil {
		a.guard = newGuard(a.Host.Proc())
	}
	// Actions in the order they began, undone in reverse.
	var order []int
	for _, r := range a.Journal.Recs {
		if (r.Type == recBegin || r.Type == recProcs) && !slices.Contains(order, r.Action) {
			order = append(order, r.Action)
		}
	}
	var results []Result
	var failed error
	var reload []string
	for k := len(order) - 1; k >= 0; k-- {
		i := order[k]
		if err := ctx.Err(); err != nil {
			return results, err
		}
		act := plan.Actions[i]
		r := Result{Action: i, Kind: act.Kind, Title: act.Title, Status: "undone"}
		if a.st.undone[i] {
			r.Status = "already"
			results = append(results, r)
			continue
		}
		changes := a.st.begun[i]
		var err error
		for c := len(changes) - 1; c >= 0 && err == nil; c-- {
			var note string
			note, err = a.restore(changes[c])
			if note != "" {
				r.Detail = joinNote(r.Detail, note)
			}
		}
		switch act.Kind {
		case KindFreeze:
			r.Detail = joinNote(r.Detail, a.resume(a.st.procs[i]))
		case KindKill:
			r.Detail = joinNote(r.Detail, "killed processes are not restarted")
		case KindReloadUnits:
			reload = append(reload, act.Units...) // after the files are back
		case KindFirewall:
			if err = a.undoFirewall(ctx, i, act); err == nil {
				r.Detail = joinNote(r.Detail, "nftables table inet "+act.Firewall.Name()+" as it was")
			}
		case KindStopUnits:
			sd := a.Systemd
			if sd == nil && a.Host.Proc() != nil {
				sd = liveSystemd()
			}
			if sd == nil {
				err = fmt.Errorf("systemd is not running this host; start %s by hand", strings.Join(act.Units, ", "))
			} else if err = sd.Start(ctx, act.Units); err == nil {
				r.Detail = joinNote(r.Detail, "started "+strings.Join(act.Units, ", "))
			}
		}
		if err != nil {
			r.Status, r.Detail = "failed", err.Error()
			failed = errors.Join(failed, fmt.Errorf("action %d (%s): %w", i, act.Title, err))
			results = append(results, r)
			continue
		}
		a.step()
		if err := a.Journal.Append(Record{Type: recUndone, Action: i}); err != nil {
			return results, err
		}
		results = append(results, r)
	}
	if len(reload) > 0 {
		sd := a.Systemd
		if sd == nil && a.Host.Proc() != nil {
			sd = liveSystemd()
		}
		if sd != nil {
			if err := sd.ReloadUnits(ctx, reload); err != nil {
				failed = errors.Join(failed, err)
			}
		}
	}
	// Restored unit files are loaded again; they start at the next boot
	// (or by hand), not now.
	if units := planUnits(plan); len(units) > 0 && a.Host.Proc() != nil {
		sd := a.Systemd
		if sd == nil {
			sd = liveSystemd()
		}
		if sd != nil {
			if err := sd.Reload(ctx); err != nil {
				failed = errors.Join(failed, err)
			}
		}
	}
	if failed != nil {
		return results, failed
	}
	return results, a.Journal.Append(Record{Type: recUndoEnd, Action: -1})
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// resume sends SIGCONT to frozen processes that are still alive (a run
// that stopped between freeze and kill).
func (a *Applier) resume(ps []Proc) string {
	if a.guard == nil {
		return ""
	}
	n := 0
	for _, want := range ps {
		if p, ok := a.guard.same(want); ok && a.guard.check(p) == "" && p.Stat.State != 'Z' {
			if signalCont(want.PID) == nil {
				n++
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d frozen process(es) resumed", n)
}

// restore puts one path back as the change recorded it. The path is found
// again through the root (a disk may be mounted elsewhere now).
func (a *Applier) restore(c Change) (string, error) {
	real, err := realNoFollow(a.Host.FS(), c.Path)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(real)
	a.removeTemps(dir)
	cur, err := statMeta(real)
	if err != nil {
		return "", err
	}
	var note string
	// Whether the file already holds its original bytes, hashed once.
	original := cur.Exists && cur.Type == "file" && c.Before.Exists && c.Before.Type == "file" &&
		cur.Size == c.Before.Size && sameContent(real, c.Before.SHA256)
	// A file changed after the clean (an admin's edit) is kept in the vault
	// before undo overwrites it: nothing anyone wrote is lost.
	if cur.Exists && cur.Type == "file" && !original {
		if sha, _, err := a.vault.StoreFile(real); err == nil && !a.isPlanned(sha) {
			note = fmt.Sprintf("the current %s was kept in the vault as blob %s", c.Path, sha)
		}
	}
	if dm, err := statMeta(dir); err == nil && dm.Flags&protectFlags != 0 {
		if _, err := clearProtect(dir); err != nil {
			return note, err
		}
	}
	if cur.Exists && cur.Flags&protectFlags != 0 {
		if _, err := clearProtect(real); err != nil {
			return note, err
		}
	}
	switch {
	case !c.Before.Exists:
		if cur.Exists {
			if err := os.Remove(real); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return note, err
			}
		}
	case c.Before.Type == "symlink":
		if cur.Exists && !(cur.Type == "symlink" && cur.Link == c.Before.Link) {
			if err := os.Remove(real); err != nil {
				return note, err
			}
			cur.Exists = false
		}
		if !cur.Exists {
			if err := os.Symlink(c.Before.Link, real); err != nil {
				return note, err
			}
		}
		if err := applyMeta(real, c.Before); err != nil {
			return note, err
		}
	case c.Before.Type == "file":
		if !original {
			data, err := a.vault.Load(c.Before.Blob)
			if err != nil {
				return note, err
			}
			tmp, err := writeTemp(dir, a.tmpPrefix(), data)
			if err != nil {
				return note, err
			}
			if cur.Exists && cur.Type == "dir" {
				os.Remove(tmp)
				return note, fmt.Errorf("%s: a directory is in the way", c.Path)
			}
			if err := os.Rename(tmp, real); err != nil {
				os.Remove(tmp)
				return note, err
			}
		}
		if err := applyMeta(real, c.Before); err != nil {
			return note, err
		}
	default:
		return note, fmt.Errorf("%s: cannot restore a %s", c.Path, c.Before.Type)
	}
	a.step()
	if err := atomicfile.SyncDir(dir); err != nil {
		return note, err
	}
	// The directory's times and flags last: every entry change above moved them.
	if c.Dir.Exists {
		if err := applyMeta(dir, c.Dir); err != nil {
			return note, err
		}
	}
	return note, nil
}

// isPlanned reports a blob that is some change's original (no need to
// say it was kept).
func (a *Applier) isPlanned(sha string) bool {
	for _, cs := range a.st.begun {
		for _, c := range cs {
			if c.Before.SHA256 == sha {
				return true
			}
		}
	}
	return false
}

func sameContent(real, sha string) bool {
	if sha == "" {
		return false
	}
	f, err := openNoFollow(real)
	if err != nil {
		return false
	}
	defer f.Close()
	got, err := sigscan.HashReader(f)
	return err == nil && got == sha
}
