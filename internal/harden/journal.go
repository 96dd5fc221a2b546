package harden

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/intel"
)

// JournalName is the journal's file name in the state directory.
const JournalName = "harden-journal.jsonl"

// Step is one journal record: the state of one thing before minerguard
// changed it. It is written and fsynced before the change, so a crash or
// a failure midway leaves a journal from which rollback restores
// everything that may have been changed (restoring a step whose change
// never happened writes back the value that is already there).
type Step struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	Item string    `json:"item"`
	Kind string    `json:"kind"` // registry, service, firewall, minpwlen, guest

	// registry: the value before (Existed false: it did not exist and
	// rollback deletes it). CreatedKey is the outermost key the change
	// created; rollback removes the keys it created when they are empty.
	Key        string `json:"key,omitempty"`
	Name       string `json:"name,omitempty"`
	CreatedKey string `json:"created_key,omitempty"`
	Existed    bool   `json:"existed"`
	Type       string `json:"type,omitempty"` // dword, string
	DWORD      uint32 `json:"dword,omitempty"`
	String     string `json:"string,omitempty"`

	// service
	Service string        `json:"service,omitempty"`
	State   *ServiceState `json:"state,omitempty"`

	// firewall: rule id and its previous text (Existed false: absent).
	Rule string `json:"rule,omitempty"`
	Raw  string `json:"raw,omitempty"`

	// minpwlen / guest
	MinLen int  `json:"min_len,omitempty"`
	Guest  bool `json:"guest_enabled,omitempty"`
}

var stepKinds = map[string]bool{"registry": true, "service": true, "firewall": true, "minpwlen": true, "guest": true}

// Journal appends steps to the journal file.
type Journal struct {
	path string
	f    *os.File
	seq  int
	now  func() time.Time
}

// OpenJournal opens (creating) dir/harden-journal.jsonl for appending. An
// existing journal is kept: steps of a later apply are added after it, so
// rollback goes back to the state before the first apply.
func OpenJournal(dir string) (*Journal, error) {
	if dir == "" {
		return nil, errors.New("no state directory (--state-dir)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	p := filepath.Join(dir, JournalName)
	steps, err := ReadJournal(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	_ = atomicfile.SyncDir(dir) // best effort: the journal itself was synced
	j := &Journal{path: p, f: f, now: time.Now}
	if n := len(steps); n > 0 {
		j.seq = steps[n-1].Seq
	}
	return j, nil
}

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }

func (j *Journal) record(s Step) error {
	j.seq++
	s.Seq, s.Time = j.seq, j.now().UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// ReadJournal reads a journal. A last line without its newline is a write
// that was cut off (its change was never made) and is ignored; any other
// bad line is an error naming the line.
func ReadJournal(path string) ([]Step, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseJournal(path, b)
}

func parseJournal(path string, b []byte) ([]Step, error) {
	var out []Step
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line, off := 0, 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		off += len(text) + 1
		if off > len(b) { // torn tail: no newline
			break
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var s Step
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if !stepKinds[s.Kind] {
			return nil, fmt.Errorf("%s:%d: unknown kind %q", path, line, s.Kind)
		}
		if err := s.valid(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return out, nil
}

func (s Step) valid() error {
	switch s.Kind {
	case "registry":
		if s.Key == "" {
			return errors.New("registry step without key")
		}
		if s.Existed && s.Type != "dword" && s.Type != "string" {
			return fmt.Errorf("registry step of type %q", s.Type)
		}
		if s.CreatedKey != "" && !strings.HasPrefix(s.Key+`\`, s.CreatedKey+`\`) {
			return fmt.Errorf("created key %q is not %q or above it", s.CreatedKey, s.Key)
		}
	case "service":
		if s.Service == "" || s.State == nil {
			return errors.New("service step without service or state")
		}
	case "firewall":
		if s.Rule == "" {
			return errors.New("firewall step without rule")
		}
		if s.CreatedKey != "" && !strings.HasPrefix(s.Key+`\`, s.CreatedKey+`\`) {
			return fmt.Errorf("created key %q is not %q or above it", s.CreatedKey, s.Key)
		}
	case "minpwlen":
		if s.MinLen < 0 || s.MinLen > 256 {
			return fmt.Errorf("min_len %d", s.MinLen)
		}
	}
	return nil
}

// changer makes changes, journaling each one before it is made.
type changer struct {
	w     *Windows
	j     *Journal
	item  string
	force bool
}

// missingKey is the outermost ancestor of key (or key) that does not exist.
func missingKey(reg Registry, key string) (string, error) {
	parts := strings.Split(key, `\`)
	for i := 1; i <= len(parts); i++ {
		k := strings.Join(parts[:i], `\`)
		ok, err := reg.KeyExists(k)
		if err != nil {
			return "", fmt.Errorf(`HKLM\%s: %w`, k, err)
		}
		if !ok {
			return k, nil
		}
	}
	return "", nil
}

// regStep captures a value's current state as a step.
func (c *changer) regStep(key, name, typ string) (Step, error) {
	s := Step{Item: c.item, Kind: "registry", Key: key, Name: name}
	created, err := missingKey(c.w.Registry, key)
	if err != nil {
		return s, err
	}
	s.CreatedKey = created
	if created != "" {
		return s, nil
	}
	switch typ {
	case "dword":
		v, err := c.w.Registry.GetDWORD(key, name)
		if err == nil {
			s.Existed, s.Type, s.DWORD = true, "dword", v
		} else if !errors.Is(err, ErrNotExist) {
			return s, fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
		}
	case "string":
		v, err := c.w.Registry.GetString(key, name)
		if err == nil {
			s.Existed, s.Type, s.String = true, "string", v
		} else if !errors.Is(err, ErrNotExist) {
			return s, fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
		}
	}
	return s, nil
}

func (c *changer) setDWORD(key, name string, v uint32) error {
	s, err := c.regStep(key, name, "dword")
	if err != nil {
		return err
	}
	if err := c.j.record(s); err != nil {
		return err
	}
	if err := c.w.Registry.SetDWORD(key, name, v); err != nil {
		return fmt.Errorf(`set HKLM\%s\%s: %w`, key, name, err)
	}
	return nil
}

func (c *changer) deleteValue(key, name string) error {
	s, err := c.regStep(key, name, "dword")
	if err != nil {
		return err
	}
	if err := c.j.record(s); err != nil {
		return err
	}
	if err := c.w.Registry.DeleteValue(key, name); err != nil {
		return fmt.Errorf(`delete HKLM\%s\%s: %w`, key, name, err)
	}
	return nil
}

func (c *changer) putRule(id, raw string) error {
	prev, found, err := c.w.Firewall.Rule(id)
	if err != nil {
		return fmt.Errorf("firewall rule %s: %w", id, err)
	}
	s := Step{Item: c.item, Kind: "firewall", Rule: id, Existed: found, Raw: prev}
	if rf, ok := c.w.Firewall.(RegistryFirewall); ok && !found {
		// The rule may create the store's key: rollback removes it again.
		s.Key = keyFwPolicyRule
		if s.CreatedKey, err = missingKey(rf.Reg, keyFwPolicyRule); err != nil {
			return err
		}
	}
	if err := c.j.record(s); err != nil {
		return err
	}
	if err := c.w.Firewall.PutRule(id, raw); err != nil {
		return fmt.Errorf("firewall rule %s: %w", id, err)
	}
	return nil
}

func (c *changer) disableService(ctx context.Context, name string) (string, error) {
	st, err := c.w.Services.Query(name)
	if err != nil {
		return "", fmt.Errorf("service %s: %w", name, err)
	}
	if err := c.j.record(Step{Item: c.item, Kind: "service", Service: name, State: &st}); err != nil {
		return "", err
	}
	var did []string
	if st.Start != StartDisabled {
		if err := c.w.Services.SetStartType(name, StartDisabled); err != nil {
			return "", fmt.Errorf("service %s: set start type: %w", name, err)
		}
		did = append(did, "start=disabled")
	}
	if st.Running {
		if err := c.w.Services.Stop(ctx, name); err != nil {
			return strings.Join(did, ", "), fmt.Errorf("service %s: stop: %w", name, err)
		}
		did = append(did, "stopped")
	}
	return name + " " + strings.Join(did, ", "), nil
}

func (c *changer) setMinPasswordLen(n int) error {
	prev, err := c.w.Accounts.MinPasswordLen()
	if err != nil {
		return err
	}
	if err := c.j.record(Step{Item: c.item, Kind: "minpwlen", MinLen: prev}); err != nil {
		return err
	}
	return c.w.Accounts.SetMinPasswordLen(n)
}

func (c *changer) setGuest(on bool) error {
	g, err := c.w.Accounts.Guest()
	if err != nil {
		return err
	}
	if err := c.j.record(Step{Item: c.item, Kind: "guest", Guest: g.Enabled}); err != nil {
		return err
	}
	return c.w.Accounts.SetGuestEnabled(on)
}

// Outcome is what --apply did to one item.
type Outcome struct {
	ID     string `json:"id"`
	Status string `json:"status"` // changed, unchanged, skipped, failed, warning
	Detail string `json:"detail"`
}

// ApplyOptions select the items --apply changes.
type ApplyOptions struct {
	Only, Skip []string
	// Force allows turning RDP off from a Remote Desktop session.
	Force bool
}

// ApplyWindows changes every selected item that does not pass and has a
// fix (opt-in items only when named by Only), journaling each step in j
// before making it. It stops at the first failure: the journal then holds
// everything changed so far, for RollbackWindows.
func ApplyWindows(ctx context.Context, w *Windows, db *intel.DB, now time.Time, j *Journal, opt ApplyOptions) ([]Outcome, error) {
	cfg, err := loadConfigDB(db)
	if err != nil {
		return nil, err
	}
	c := &winCtx{w: w, cfg: cfg, now: now}
	want := selector(opt.Only, opt.Skip)
	var out []Outcome
	refresh := false
	for _, it := range Items() {
		if it.win == nil || !want(it.ID) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r := it.win.audit(ctx, c)
		switch {
		case r.Status == Pass || r.Status == NA:
			out = append(out, Outcome{it.ID, "unchanged", r.Evidence})
			continue
		case it.win.fix == nil:
			out = append(out, Outcome{it.ID, "skipped", "no automatic change: " + r.Change})
			continue
		case it.OptIn && !named(opt.Only, it.ID):
			out = append(out, Outcome{it.ID, "skipped", "opt-in: name it with --only " + it.ID})
			continue
		}
		ch := &changer{w: w, j: j, item: it.ID, force: opt.Force}
		detail, err := it.win.fix(ctx, c, ch)
		if err != nil {
			out = append(out, Outcome{it.ID, "failed", joinDetail(detail, err.Error())})
			if refresh {
				_ = w.Firewall.Refresh()
			}
			return out, fmt.Errorf("%s: %w (what was changed is in %s: minerguard harden --rollback restores it)", it.ID, err, j.Path())
		}
		if strings.HasPrefix(it.ID, "win.firewall.") {
			refresh = true
		}
		out = append(out, Outcome{it.ID, "changed", detail})
	}
	if refresh {
		// The rules are in place either way; only when they take effect
		// depends on the refresh.
		if err := w.Firewall.Refresh(); err != nil {
			out = append(out, Outcome{"policy-refresh", "warning", err.Error() + " (the firewall rules apply at the next policy refresh or reboot)"})
		}
	}
	return out, nil
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func named(list []string, id string) bool {
	for _, s := range list {
		if s == id {
			return true
		}
	}
	return false
}

// RollbackWindows restores, newest first, every step of the journal in
// dir. When all are restored the journal is renamed to
// harden-journal.<time>.done; otherwise it stays for another try (every
// restore can be repeated safely). Warnings say what was restored but is
// not yet in effect.
func RollbackWindows(ctx context.Context, w *Windows, dir string, now time.Time) (done []Step, warnings []string, err error) {
	p := filepath.Join(dir, JournalName)
	steps, err := ReadJournal(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no journal at %s: nothing to roll back", p)
		}
		return nil, nil, err
	}
	var errs []error
	fw := false
	for i := len(steps) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return done, warnings, err
		}
		s := steps[i]
		if err := restore(ctx, w, s); err != nil {
			errs = append(errs, fmt.Errorf("step %d (%s %s): %w", s.Seq, s.Item, s.Kind, err))
			continue
		}
		fw = fw || s.Kind == "firewall" || strings.HasPrefix(s.Key, keyFwPolicy)
		done = append(done, s)
	}
	if fw {
		if err := w.Firewall.Refresh(); err != nil {
			warnings = append(warnings, "policy refresh: "+err.Error()+" (the firewall rules go at the next policy refresh or reboot)")
		}
	}
	if len(errs) > 0 {
		return done, warnings, errors.Join(errs...)
	}
	if err := os.Rename(p, filepath.Join(dir, "harden-journal."+now.UTC().Format("20060102T150405Z")+".done")); err != nil {
		return done, warnings, err
	}
	_ = atomicfile.SyncDir(dir) // best effort: the journal itself was synced
	return done, warnings, nil
}

func restore(ctx context.Context, w *Windows, s Step) error {
	switch s.Kind {
	case "registry":
		reg := w.Registry
		if s.Existed {
			if s.Type == "string" {
				return reg.SetString(s.Key, s.Name, s.String)
			}
			return reg.SetDWORD(s.Key, s.Name, s.DWORD)
		}
		if ok, err := reg.KeyExists(s.Key); err != nil {
			return err
		} else if ok {
			if err := reg.DeleteValue(s.Key, s.Name); err != nil {
				return err
			}
		}
		return removeCreatedKeys(reg, s.Key, s.CreatedKey)
	case "service":
		cur, err := w.Services.Query(s.Service)
		if err != nil {
			return err
		}
		if cur.Start != s.State.Start {
			if err := w.Services.SetStartType(s.Service, s.State.Start); err != nil {
				return err
			}
		}
		switch {
		case s.State.Running && !cur.Running:
			return w.Services.Start(ctx, s.Service)
		case !s.State.Running && cur.Running:
			return w.Services.Stop(ctx, s.Service)
		}
		return nil
	case "firewall":
		if s.Existed {
			return w.Firewall.PutRule(s.Rule, s.Raw)
		}
		if err := w.Firewall.DeleteRule(s.Rule); err != nil {
			return err
		}
		if rf, ok := w.Firewall.(RegistryFirewall); ok {
			return removeCreatedKeys(rf.Reg, s.Key, s.CreatedKey)
		}
		return nil
	case "minpwlen":
		return w.Accounts.SetMinPasswordLen(s.MinLen)
	case "guest":
		return w.Accounts.SetGuestEnabled(s.Guest)
	}
	return fmt.Errorf("unknown step kind %q", s.Kind)
}

// removeCreatedKeys removes key and its parents up to created (the keys a
// change created), deepest first, while they are empty: someone may have
// put something there since.
func removeCreatedKeys(reg Registry, key, created string) error {
	if created == "" {
		return nil
	}
	for k := key; len(k) >= len(created); {
		ok, err := reg.KeyExists(k)
		if err != nil {
			return err
		}
		if ok {
			names, err := reg.ValueNames(k)
			if err != nil {
				return err
			}
			if len(names) > 0 {
				return nil
			}
			if err := reg.DeleteKey(k); err != nil {
				if errors.Is(err, ErrNotEmpty) {
					return nil
				}
				return err
			}
		}
		i := strings.LastIndexByte(k, '\\')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return nil
}

// What names the thing a step restores.
func (s Step) What() string {
	switch s.Kind {
	case "registry":
		return `HKLM\` + s.Key + `\` + s.Name
	case "service":
		return "service " + s.Service
	case "firewall":
		return "firewall rule " + s.Rule
	case "minpwlen":
		return "minimum password length"
	case "guest":
		return "guest account"
	}
	return s.Kind
}
