package respond

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/host"
)

// Result is what happened to one action.
type Result struct {
	Action int    `json:"action"`
	Kind   Kind   `json:"kind"`
	Title  string `json:"title"`
	Status string `json:"status"` // done, already, failed, advice
	Detail string `json:"detail,omitempty"`
}

// Applier runs a journal's plan on a host.
type Applier struct {
	Host    host.Host
	Journal *Journal
	Log     *slog.Logger
	// Sweep is how long the process table is watched for respawns after
	// the kill (0: a default of three seconds on a live host).
	Sweep time.Duration
	// CrashAt, when positive, kills minerguard itself at that step: the
	// fault tests use it to stop a run between any two changes.
	CrashAt int
	// Firewall changes nftables; nil is the kernel's.
	Firewall Firewall
	// Systemd stops and forgets quarantined units on a live host; nil
	// finds systemctl when systemd runs the host, and does nothing offline.
	Systemd Systemd

	steps int
	vault *Vault
	st    status
	guard *guard
}

// step is a point between two durable changes; the fault tests crash here.
func (a *Applier) step() {
	if a.CrashAt <= 0 {
		return
	}
	a.steps++
	if a.steps == a.CrashAt {
		crashSelf()
	}
}

// Apply runs every action the journal has not finished. It is also how a
// crashed run is resumed: finished actions are skipped, a begun one is
// redone from the state its begin record saved.
func (a *Applier) Apply(ctx context.Context) ([]Result, error) {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	a.vault = &Vault{Dir: a.Journal.Dir}
	a.st = a.Journal.status()
	if a.st.undoing {
		return nil, fmt.Errorf("%s: this run was undone; make a new plan", a.Journal.Dir)
	}
	plan := a.Journal.Plan()
	if err := a.checkHost(plan); err != nil {
		return nil, err
	}
	if a.Host.Proc() != nil {
		a.guard = newGuard(a.Host.Proc())
		if a.Systemd == nil {
			a.Systemd = liveSystemd()
		}
	}
	var results []Result
	for i, act := range plan.Actions {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		r := Result{Action: i, Kind: act.Kind, Title: act.Title}
		if a.st.done[i] {
			r.Status, r.Detail = "already", "finished by an earlier run"
			results = append(results, r)
			continue
		}
		detail, err := a.run(ctx, i, act)
		r.Detail = detail
		switch {
		case err != nil:
			r.Status = "failed"
			r.Detail = err.Error()
			a.Log.Warn("action failed", "action", i, "kind", act.Kind, "err", err)
			if jerr := a.Journal.Append(Record{Type: recFailed, Action: i, Error: err.Error()}); jerr != nil {
				return results, jerr
			}
		case act.Kind == KindAdvise:
			r.Status = "advice"
			if err := a.Journal.Append(Record{Type: recDone, Action: i, Note: "advice only"}); err != nil {
				return results, err
			}
		default:
			r.Status = "done"
			a.step()
			if err := a.Journal.Append(Record{Type: recDone, Action: i, Note: detail}); err != nil {
				return results, err
			}
		}
		results = append(results, r)
	}
	return results, a.Journal.Append(Record{Type: recApplied, Action: -1})
}

// ErrOtherHost refuses a journal written on another machine.
var ErrOtherHost = errors.New("journal was written for another host")

func (a *Applier) checkHost(plan *Plan) error {
	if id := HostIdentity(a.Host); !id.Same(plan.Host) {
		return fmt.Errorf("%w: journal %s is for %s, this is %s", ErrOtherHost, a.Journal.Dir, plan.Host, id)
	}
	return nil
}

func (a *Applier) run(ctx context.Context, i int, act Action) (string, error) {
	switch act.Kind {
	case KindAdvise:
		return act.Advice, nil
	case KindFreeze:
		return a.freeze(i, act)
	case KindEvidence:
		return a.evidence(ctx, i, act)
	case KindKill:
		return a.kill(ctx, i, act)
	case KindRemoveLines:
		return a.editFile(i, act.Path, act.Edits)
	case KindConfigure:
		return a.configure(i, act)
	case KindFirewall:
		return a.applyFirewall(ctx, i, act)
	case KindReloadUnits:
		return a.units(ctx, i, act, "reload", func(sd Systemd) func(context.Context, []string) error { return sd.ReloadUnits })
	case KindStopUnits:
		return a.units(ctx, i, act, "stop", func(sd Systemd) func(context.Context, []string) error { return sd.Stop })
	case KindLockAccount:
		var notes []string
		for _, f := range editFiles(act.Edits) {
			n, err := a.editFile(i, f, editsFor(act.Edits, f))
			if err != nil {
				return strings.Join(notes, "; "), err
			}
			notes = append(notes, n)
		}
		return strings.Join(notes, "; "), nil
	case KindQuarantine:
		return a.quarantine(i, act.Path)
	case KindRestoreOrig:
		return a.restoreOrig(i, act)
	case KindBlockDomains:
		return a.blockDomains(i, act)
	}
	return "", fmt.Errorf("unknown action kind %q", act.Kind)
}

// units journals a service action, then runs it through systemd.
func (a *Applier) units(ctx context.Context, i int, act Action, verb string, op func(Systemd) func(context.Context, []string) error) (string, error) {
	list := strings.Join(act.Units, ", ")
	if a.Systemd == nil {
		return "", fmt.Errorf("systemd is not running this host; %s %s by hand", verb, list)
	}
	if err := a.Journal.Append(Record{Type: recBegin, Action: i, Note: verb + " " + list}); err != nil {
		return "", err
	}
	if err := op(a.Systemd)(ctx, act.Units); err != nil {
		return "", err
	}
	return verb + " done: " + list, nil
}

func editFiles(es []LineEdit) []string {
	var out []string
	for _, e := range es {
		out = addUnique(out, e.File)
	}
	return out
}

func editsFor(es []LineEdit, file string) []LineEdit {
	var out []LineEdit
	for _, e := range es {
		if e.File == file {
			out = append(out, e)
		}
	}
	return out
}

// snapshot saves the current state of a host path before action i
// changes it: content into the vault, metadata into a begin record. A
// resumed action reuses the state its first attempt saved, which is the
// true original even if the change already happened.
func (a *Applier) snapshot(i int, p string) (Change, error) {
	for _, c := range a.st.begun[i] {
		if c.Path == p {
			real, err := realNoFollow(a.Host.FS(), p)
			if err != nil {
				return c, err
			}
			c.Real = real
			a.removeTemps(filepath.Dir(real))
			return c, nil
		}
	}
	real, err := realNoFollow(a.Host.FS(), p)
	if err != nil {
		return Change{}, err
	}
	c := Change{Path: p, Real: real}
	if c.Dir, err = statMeta(filepath.Dir(real)); err != nil {
		return c, err
	}
	if c.Before, err = statMeta(real); err != nil {
		return c, err
	}
	if c.Before.Type == "file" {
		sha, size, err := a.vault.StoreFile(real)
		if err != nil {
			return c, fmt.Errorf("copy %s into the vault: %w", p, err)
		}
		c.Before.SHA256, c.Before.Blob, c.Before.Size = sha, sha, size
	}
	a.step()
	if err := a.Journal.Append(Record{Type: recBegin, Action: i, Changes: []Change{c}}); err != nil {
		return c, err
	}
	a.st.begun[i] = append(a.st.begun[i], c)
	a.step()
	return c, nil
}

// unprotect clears immutable/append-only on a path and its directory for
// the length of a change, and puts the directory's back afterwards (the
// file's stay cleared: they were how the malware protected itself).
func (a *Applier) unprotect(c Change) (restore func(), err error) {
	dir := filepath.Dir(c.Real)
	if c.Before.Exists && c.Before.Type != "symlink" && c.Before.Flags&protectFlags != 0 {
		if _, err := clearProtect(c.Real); err != nil {
			return nil, fmt.Errorf("clear immutable/append-only on %s: %w", c.Path, err)
		}
		a.step()
	}
	cur, err := statMeta(dir)
	if err != nil {
		return nil, err
	}
	if cur.Flags&protectFlags == 0 {
		return func() {}, nil
	}
	if _, err := clearProtect(dir); err != nil {
		return nil, fmt.Errorf("clear immutable/append-only on %s: %w", path.Dir(c.Path), err)
	}
	return func() {
		if err := setFlags(dir, cur.Flags); err != nil {
			a.Log.Warn("could not put directory flags back", "dir", dir, "err", err)
		}
	}, nil
}

// editFile makes line edits in one file.
func (a *Applier) editFile(i int, p string, edits []LineEdit) (string, error) {
	c, err := a.snapshot(i, p)
	if err != nil {
		return "", err
	}
	if !c.Before.Exists {
		return "", fmt.Errorf("%s: does not exist", p)
	}
	if c.Before.Type != "file" {
		return "", fmt.Errorf("%s: not a regular file", p)
	}
	f, err := openNoFollow(c.Real)
	if err != nil {
		return "", err
	}
	cur, err := readAllLimited(f, host.MaxReadFile)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	out, changed, err := ApplyEdits(cur, edits)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	if !changed {
		return fmt.Sprintf("%s already clean", p), nil
	}
	if err := a.rewrite(c, out); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return fmt.Sprintf("%s: %d line(s) changed", p, len(edits)), nil
}

// configure makes line edits in a configuration file and appends lines
// once, creating the file when the action says so.
func (a *Applier) configure(i int, act Action) (string, error) {
	c, err := a.snapshot(i, act.Path)
	if err != nil {
		return "", err
	}
	var cur []byte
	meta := FileMeta{Mode: 0o644}
	switch {
	case c.Before.Exists && c.Before.Type != "file":
		return "", fmt.Errorf("%s: not a regular file", act.Path)
	case !c.Before.Exists && !act.Create:
		return "", fmt.Errorf("%s: does not exist", act.Path)
	}
	if _, err := os.Lstat(c.Real); err == nil {
		f, err := openNoFollow(c.Real)
		if err != nil {
			return "", err
		}
		cur, err = readAllLimited(f, host.MaxReadFile)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %w", act.Path, err)
		}
		if meta, err = statMeta(c.Real); err != nil {
			return "", err
		}
	}
	out, changed, err := ApplyEdits(cur, act.Edits)
	if err != nil {
		return "", fmt.Errorf("%s: %w", act.Path, err)
	}
	if len(act.Prepend) > 0 && !bytes.HasPrefix(out, act.Prepend) {
		out = append(append([]byte{}, act.Prepend...), out...)
		changed = true
	}
	if len(act.Append) > 0 && !bytes.Contains(out, act.Append) {
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		out = append(out, act.Append...)
		changed = true
	}
	if !changed {
		return act.Path + " already set", nil
	}
	restore, err := a.unprotect(c)
	if err != nil {
		return "", err
	}
	defer restore()
	if err := a.replaceFile(c.Real, out, meta); err != nil {
		return "", fmt.Errorf("%s: %w", act.Path, err)
	}
	return act.Path + " set", nil
}

// rewrite replaces a snapshotted file's content, keeping its owner, mode
// and xattrs, with protective flags lifted for the change.
func (a *Applier) rewrite(c Change, data []byte) error {
	restore, err := a.unprotect(c)
	if err != nil {
		return err
	}
	defer restore()
	meta, err := statMeta(c.Real)
	if err != nil {
		return err
	}
	return a.replaceFile(c.Real, data, meta)
}

// replaceFile atomically replaces real with data, keeping meta's owner,
// mode and xattrs (not its times or flags: the file did change).
func (a *Applier) replaceFile(real string, data []byte, meta FileMeta) error {
	tmp, err := writeTemp(filepath.Dir(real), a.tmpPrefix(), data)
	if err != nil {
		return err
	}
	m := meta
	m.Flags = 0
	now := time.Now().UnixNano()
	m.Atime, m.Mtime = now, now
	m.Type = "file"
	if err := applyMeta(tmp, m); err != nil {
		os.Remove(tmp)
		return err
	}
	a.step()
	if err := os.Rename(tmp, real); err != nil {
		os.Remove(tmp)
		return err
	}
	a.step()
	return atomicfile.SyncDir(filepath.Dir(real))
}

// tmpPrefix names this run's temporary files, so a run cut between
// writing one and renaming it can find and remove it.
func (a *Applier) tmpPrefix() string { return ".minerguard-" + filepath.Base(a.Journal.Dir) + "-" }

// removeTemps deletes this run's temporary files left in dir by a crash.
func (a *Applier) removeTemps(dir string) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), a.tmpPrefix()) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writeTemp writes data to a new file in dir, fsynced.
func writeTemp(dir, prefix string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func readAllLimited(f *os.File, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes; not editing it", max)
	}
	return b, nil
}

// quarantine moves a file or link into the vault: its bytes are already
// there from the snapshot, so the move is an unlink.
func (a *Applier) quarantine(i int, p string) (string, error) {
	c, err := a.snapshot(i, p)
	if err != nil {
		return "", err
	}
	if !c.Before.Exists {
		return "", fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	if _, err := os.Lstat(c.Real); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s already quarantined", p), nil
	}
	restore, err := a.unprotect(c)
	if err != nil {
		return "", err
	}
	defer restore()
	if err := os.Remove(c.Real); err != nil {
		return "", err
	}
	a.step()
	if err := atomicfile.SyncDir(filepath.Dir(c.Real)); err != nil {
		return "", err
	}
	if c.Before.Type == "symlink" {
		return fmt.Sprintf("removed link %s -> %s", p, c.Before.Link), nil
	}
	return fmt.Sprintf("quarantined %s (sha256 %s, %d bytes)", p, c.Before.SHA256, c.Before.Size), nil
}

// restoreOrig replaces a tampered file with the copy the malware kept.
func (a *Applier) restoreOrig(i int, act Action) (string, error) {
	src, err := realNoFollow(a.Host.FS(), act.Source)
	if err != nil {
		return "", err
	}
	f, err := openNoFollow(src)
	if err != nil {
		return "", err
	}
	data, err := readAllLimited(f, 1<<30)
	f.Close()
	if err != nil {
		return "", err
	}
	c, err := a.snapshot(i, act.Path)
	if err != nil {
		return "", err
	}
	if c.Before.Type != "file" {
		return "", fmt.Errorf("%s: not a regular file", act.Path)
	}
	if sum := sha256.Sum256(data); c.Before.SHA256 == hex.EncodeToString(sum[:]) {
		return act.Path + " already restored", nil
	}
	if err := a.rewrite(c, data); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s restored from %s", act.Path, act.Source), nil
}

// hostsMarker starts minerguard's block in /etc/hosts.
const hostsMarker = "# minerguard: mining pool sinkhole"

// blockDomains appends a sinkhole entry for every domain not yet in the
// hosts file; undo restores the file as it was.
func (a *Applier) blockDomains(i int, act Action) (string, error) {
	c, err := a.snapshot(i, act.Path)
	if err != nil {
		return "", err
	}
	var cur []byte
	meta := FileMeta{Mode: 0o644}
	if c.Before.Exists {
		if c.Before.Type != "file" {
			return "", fmt.Errorf("%s: not a regular file", act.Path)
		}
		f, err := openNoFollow(c.Real)
		if err != nil {
			return "", err
		}
		cur, err = readAllLimited(f, host.MaxReadFile)
		f.Close()
		if err != nil {
			return "", err
		}
		if meta, err = statMeta(c.Real); err != nil {
			return "", err
		}
	}
	present := map[string]bool{}
	for _, l := range splitLines(cur) {
		f := strings.Fields(string(lineBody(l)))
		if len(f) >= 2 && (f[0] == "0.0.0.0" || f[0] == "::") {
			for _, n := range f[1:] {
				present[strings.ToLower(n)] = true
			}
		}
	}
	var add bytes.Buffer
	n := 0
	for _, d := range act.Domains {
		if present[d] {
			continue
		}
		if n == 0 {
			if len(cur) > 0 && !bytes.HasSuffix(cur, []byte("\n")) {
				add.WriteByte('\n')
			}
			fmt.Fprintf(&add, "%s (%s)\n", hostsMarker, filepath.Base(a.Journal.Dir))
		}
		fmt.Fprintf(&add, "0.0.0.0 %s\n:: %s\n", d, d)
		n++
	}
	if n == 0 {
		return "every domain already sinkholed", nil
	}
	restore, err := a.unprotect(c)
	if err != nil {
		return "", err
	}
	defer restore()
	if err := a.replaceFile(c.Real, append(cur, add.Bytes()...), meta); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d domain(s) sinkholed in %s", n, act.Path), nil
}
