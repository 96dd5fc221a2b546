package respond

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/minerguard/minerguard/internal/host"
)

// Preflight errors: apply refuses before changing anything.
var (
	ErrReadOnly = errors.New("read-only filesystem")
	ErrNoSpace  = errors.New("not enough free space")
)

// spaceMargin is kept free beyond what the vault needs: a full disk under
// a running server breaks more than the miner did.
const spaceMargin = 16 << 20

// Preflight checks, before the journal exists, that the plan can run:
// every file it changes sits on a writable filesystem, and the vault's
// filesystem has room for every file it will copy plus the processes'
// executables. It returns every problem at once.
func Preflight(h host.Host, plan *Plan, state string) error {
	var problems []error
	need := int64(spaceMargin)
	dirs := map[string]string{}
	for _, a := range plan.Actions {
		var paths []string
		switch a.Kind {
		case KindRemoveLines, KindQuarantine, KindRestoreOrig, KindBlockDomains, KindConfigure:
			paths = []string{a.Path}
		case KindLockAccount:
			paths = editFiles(a.Edits)
		case KindEvidence:
			for _, p := range a.Procs {
				if h.Proc() != nil {
					if st, err := h.Proc().Stat(p.PID, "exe"); err == nil {
						need += st.Size()
					}
				}
			}
		}
		for _, p := range paths {
			real, err := realNoFollow(h.FS(), p)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", p, err))
				continue
			}
			dirs[filepath.Dir(real)] = path.Dir(p)
			if st, err := h.FS().Lstat(p); err == nil && st.Mode().IsRegular() {
				need += st.Size()
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				problems = append(problems, fmt.Errorf("%s: %w", p, err))
			}
		}
	}
	for real, p := range dirs {
		ro, _, err := fsStatus(real)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if ro {
			problems = append(problems, fmt.Errorf("%w: %s (on the host %s) cannot be changed", ErrReadOnly, real, p))
		}
	}
	if err := ensureDir(state); err != nil {
		problems = append(problems, fmt.Errorf("state directory %s: %w", state, err))
	} else {
		ro, free, err := fsStatus(state)
		switch {
		case err != nil:
			problems = append(problems, err)
		case ro:
			problems = append(problems, fmt.Errorf("%w: the vault %s is read-only", ErrReadOnly, state))
		case uint64(need) > free:
			problems = append(problems, fmt.Errorf("%w: the vault %s needs %d bytes (files, executables and a %d MiB margin), %d are free",
				ErrNoSpace, state, need, spaceMargin>>20, free))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to start, nothing was changed: %w", joinErrs(problems))
}

type multiErr []error

func (m multiErr) Error() string {
	s := make([]string, len(m))
	for i, e := range m {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (m multiErr) Unwrap() []error { return m }

func joinErrs(es []error) error { return multiErr(es) }
