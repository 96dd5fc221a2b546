package host

import "fmt"

// Machine is a Host made of a root filesystem and an optional process view.
type Machine struct {
	fs   *RootFS
	proc Proc
}

// Root returns the real directory standing for "/".
func (m *Machine) Root() string { return m.fs.Dir() }

// FS returns the root filesystem.
func (m *Machine) FS() FS { return m.fs }

// Proc returns the process view, or nil for an offline root.
func (m *Machine) Proc() Proc {
	if m.proc == nil {
		return nil
	}
	return m.proc
}

// Live returns the running machine: "/" and "/proc".
func Live() (*Machine, error) {
	fsys, err := NewRootFS("/")
	if err != nil {
		return nil, err
	}
	return &Machine{fs: fsys, proc: NewLiveProc()}, nil
}

// Offline returns a host for a mounted disk or extracted tree: files only.
func Offline(root string) (*Machine, error) {
	fsys, err := NewRootFS(root)
	if err != nil {
		return nil, err
	}
	return &Machine{fs: fsys}, nil
}

// Fixture returns a host whose files are under root and whose /proc is the
// fixture tree procDir (tests); procDir "" means no process view.
func Fixture(root, procDir string) (*Machine, error) {
	fsys, err := NewRootFS(root)
	if err != nil {
		return nil, err
	}
	m := &Machine{fs: fsys}
	if procDir != "" {
		p, err := NewProcDir(procDir)
		if err != nil {
			return nil, fmt.Errorf("proc fixture: %w", err)
		}
		m.proc = p
	}
	return m, nil
}
