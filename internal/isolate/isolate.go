// Package isolate cuts a compromised host off from mining pools, or from
// everything but its management endpoints, through minerguard's nftables
// table, and undoes it exactly. The state needed to undo is written to
// disk before the firewall changes, so a crash midway leaves an undo that
// works.
package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/firewall"
)

// Firewall is what isolate needs of the firewall; Kernel is the real one.
type Firewall interface {
	Apply(ctx context.Context, r firewall.Ruleset) error
	Read(ctx context.Context, table string) (firewall.Ruleset, bool, error)
	Remove(ctx context.Context, table string) error
}

// Kernel is the host's nftables (or a network namespace's, with options).
type Kernel struct{ Opts []firewall.Option }

// Apply installs r.
func (k Kernel) Apply(ctx context.Context, r firewall.Ruleset) error {
	return firewall.Apply(ctx, r, k.Opts...)
}

// Read returns the installed table.
func (k Kernel) Read(ctx context.Context, table string) (firewall.Ruleset, bool, error) {
	return firewall.Read(ctx, table, k.Opts...)
}

// Remove deletes the table.
func (k Kernel) Remove(ctx context.Context, table string) error {
	return firewall.Remove(ctx, table, k.Opts...)
}

// StateVersion is bumped for incompatible changes of State.
const StateVersion = 1

// State is what `isolate --undo` needs: the table as it was before the
// first isolate, and what was applied since.
type State struct {
	Version int    `json:"version"`
	Table   string `json:"table"`
	// NetNS is the namespace the table lives in ("" for the host's own).
	NetNS   string    `json:"netns,omitempty"`
	Host    string    `json:"host"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Mode    string    `json:"mode"`
	Command []string  `json:"command,omitempty"`
	// PreviousExisted says whether the table existed before the first
	// isolate; Previous is its content (nil when it did not exist or could
	// not be read, PreviousError saying why).
	PreviousExisted bool              `json:"previous_existed"`
	Previous        *firewall.Ruleset `json:"previous,omitempty"`
	PreviousError   string            `json:"previous_error,omitempty"`
	Applied         firewall.Ruleset  `json:"applied"`
}

// Store keeps one State file per table and namespace under Dir.
type Store struct {
	Dir string
	// Key tells tables apart: the table name, plus the namespace's
	// identity when not the host's own.
	Key string
}

// Path is the state file.
func (s Store) Path() string { return filepath.Join(s.Dir, "isolate-"+s.Key+".json") }

// Load returns the saved state, or nil when there is none.
func (s Store) Load() (*State, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("isolate state: %w", err)
	}
	var st State
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("isolate state %s: %w", s.Path(), err)
	}
	if st.Version != StateVersion {
		return nil, fmt.Errorf("isolate state %s: version %d, this minerguard reads %d", s.Path(), st.Version, StateVersion)
	}
	if err := st.Applied.Validate(); err != nil {
		return nil, fmt.Errorf("isolate state %s: applied: %w", s.Path(), err)
	}
	if st.Previous != nil {
		if err := st.Previous.Validate(); err != nil {
			return nil, fmt.Errorf("isolate state %s: previous: %w", s.Path(), err)
		}
	}
	return &st, nil
}

// Save writes st atomically: a temporary file in the same directory,
// fsync, rename, fsync of the directory. The directory is created 0700:
// the state names management hosts.
func (s Store) Save(st *State) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("isolate state: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.Path(), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("isolate state: %w", err)
	}
	return nil
}

// Delete removes the state file (and syncs the directory).
func (s Store) Delete() error {
	if err := os.Remove(s.Path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("isolate state: %w", err)
	}
	if err := atomicfile.SyncDir(s.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("isolate state: %w", err)
	}
	return nil
}

// Meta describes one isolate run for the state file.
type Meta struct {
	Host    string
	NetNS   string
	Mode    string
	Command []string
	Now     time.Time
}

// Apply installs rs, first recording in the store what undo must restore:
// the table as it was before the first isolate (kept across later
// isolates). A table of our name that minerguard cannot read back exactly
// is refused unless force, in which case undo can only remove it.
func Apply(ctx context.Context, fw Firewall, store Store, rs firewall.Ruleset, m Meta, force bool) (*State, error) {
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	rs = rs.Normalized()
	unlock, err := store.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, err := store.Load()
	if err != nil {
		return nil, err
	}
	st := old
	if st == nil {
		cur, exists, rerr := fw.Read(ctx, rs.Name())
		if rerr != nil && !errors.Is(rerr, firewall.ErrForeign) {
			return nil, rerr
		}
		st = &State{Version: StateVersion, Table: rs.Name(), NetNS: m.NetNS, Host: m.Host, Created: m.Now, PreviousExisted: exists}
		switch {
		case rerr != nil && !force:
			return nil, fmt.Errorf("%w; undo could not restore it (--force to replace it anyway; undo will then delete the table)", rerr)
		case rerr != nil:
			st.PreviousError = rerr.Error()
		case exists:
			st.Previous = &cur
		}
	} else {
		cp := *old
		st = &cp
		if st.Table != rs.Name() {
			return nil, fmt.Errorf("isolate state %s is for table %s, not %s", store.Path(), st.Table, rs.Name())
		}
	}
	st.Updated, st.Mode, st.Command, st.Applied = m.Now, m.Mode, m.Command, rs
	if err := store.Save(st); err != nil {
		return nil, err
	}
	if err := fw.Apply(ctx, rs); err != nil {
		// The kernel changed nothing (one batch): put the state back.
		var rerr error
		if old == nil {
			rerr = store.Delete()
		} else {
			rerr = store.Save(old)
		}
		return nil, errors.Join(err, rerr)
	}
	return st, nil
}

// Undo restores the table recorded before the first isolate (or removes
// it when there was none) and deletes the state. Warnings say what the
// caller should know: the table was changed by hand since, or the
// previous content could not be kept.
func Undo(ctx context.Context, fw Firewall, store Store) (*State, []string, error) {
	if _, err := os.Stat(store.Path()); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("nothing to undo: no isolate state at %s", store.Path())
	}
	unlock, err := store.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	st, err := store.Load()
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, fmt.Errorf("nothing to undo: no isolate state at %s", store.Path())
	}
	var warn []string
	cur, exists, rerr := fw.Read(ctx, st.Table)
	switch {
	case rerr != nil:
		warn = append(warn, fmt.Sprintf("the installed table could not be read (%v); restoring anyway", rerr))
	case !exists:
		warn = append(warn, fmt.Sprintf("table inet %s was already gone", st.Table))
	case !cur.Equal(st.Applied):
		warn = append(warn, fmt.Sprintf("table inet %s was changed since isolate; restoring the state before isolate anyway", st.Table))
	}
	switch {
	case st.Previous != nil:
		err = fw.Apply(ctx, *st.Previous)
	default:
		if st.PreviousExisted {
			warn = append(warn, fmt.Sprintf("the table that existed before isolate could not be kept (%s); it is removed", st.PreviousError))
		}
		err = fw.Remove(ctx, st.Table)
	}
	if err != nil {
		return nil, warn, err
	}
	return st, warn, store.Delete()
}
