package harden

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// fakeWin is an in-memory Windows: registry, services and account policy.
// Every mutation counts against budget; when it reaches zero the mutation
// fails without effect (a failure midway through an apply).
type fakeWin struct {
	keys     map[string]bool // lower-case key paths
	vals     map[string]map[string]regVal
	services map[string]ServiceState
	minLen   int
	guest    GuestAccount
	budget   int // mutations left; <0 means unlimited
	refresh  int
	remote   bool
}

type regVal struct {
	Type  string // dword, string, binary
	DWORD uint32
	Str   string
	Bin   string
}

var errInjected = errors.New("injected failure")

func newFakeWin() *fakeWin {
	f := &fakeWin{keys: map[string]bool{}, vals: map[string]map[string]regVal{}, services: map[string]ServiceState{}, budget: -1, guest: GuestAccount{Name: "Guest"}}
	return f
}

func (f *fakeWin) windows() *Windows {
	return &Windows{Registry: fakeReg{f}, Services: fakeSvc{f}, Firewall: RegistryFirewall{Reg: fakeReg{f}, RefreshPolicy: func() error { f.refresh++; return nil }},
		Accounts: fakeAcct{f}, RemoteSession: func() bool { return f.remote }}
}

func (f *fakeWin) spend() error {
	if f.budget == 0 {
		return errInjected
	}
	if f.budget > 0 {
		f.budget--
	}
	return nil
}

// state is a comparable picture of everything harden can change.
func (f *fakeWin) state() string {
	var lines []string
	for k := range f.keys {
		lines = append(lines, "key "+k)
	}
	for k, m := range f.vals {
		for n, v := range m {
			lines = append(lines, fmt.Sprintf("val %s!%s=%+v", k, n, v))
		}
	}
	for n, s := range f.services {
		lines = append(lines, fmt.Sprintf("svc %s=%+v", n, s))
	}
	lines = append(lines, fmt.Sprintf("minlen=%d guest=%+v", f.minLen, f.guest))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (f *fakeWin) set(key, name string, v regVal) {
	k := strings.ToLower(key)
	parts := strings.Split(k, `\`)
	for i := 1; i <= len(parts); i++ {
		f.keys[strings.Join(parts[:i], `\`)] = true
	}
	if name == "" && v.Type == "" {
		return
	}
	if f.vals[k] == nil {
		f.vals[k] = map[string]regVal{}
	}
	f.vals[k][strings.ToLower(name)] = v
}

func (f *fakeWin) setDWORD(key, name string, v uint32) {
	f.set(key, name, regVal{Type: "dword", DWORD: v})
}
func (f *fakeWin) setString(key, name, v string) { f.set(key, name, regVal{Type: "string", Str: v}) }

type fakeReg struct{ f *fakeWin }

func (r fakeReg) get(key, name, typ string) (regVal, error) {
	k := strings.ToLower(key)
	if !r.f.keys[k] {
		return regVal{}, fmt.Errorf("key %s: %w", key, ErrNotExist)
	}
	v, ok := r.f.vals[k][strings.ToLower(name)]
	if !ok {
		return regVal{}, fmt.Errorf("value %s: %w", name, ErrNotExist)
	}
	if v.Type != typ {
		return regVal{}, fmt.Errorf("value %s is %s: %w", name, v.Type, ErrType)
	}
	return v, nil
}

func (r fakeReg) GetDWORD(key, name string) (uint32, error) {
	v, err := r.get(key, name, "dword")
	return v.DWORD, err
}

func (r fakeReg) GetString(key, name string) (string, error) {
	v, err := r.get(key, name, "string")
	return v.Str, err
}

func (r fakeReg) GetBinary(key, name string) ([]byte, error) {
	v, err := r.get(key, name, "binary")
	return []byte(v.Bin), err
}

func (r fakeReg) SetDWORD(key, name string, v uint32) error {
	if err := r.f.spend(); err != nil {
		return err
	}
	r.f.setDWORD(key, name, v)
	return nil
}

func (r fakeReg) SetString(key, name, v string) error {
	if err := r.f.spend(); err != nil {
		return err
	}
	r.f.setString(key, name, v)
	return nil
}

func (r fakeReg) DeleteValue(key, name string) error {
	if err := r.f.spend(); err != nil {
		return err
	}
	k := strings.ToLower(key)
	if !r.f.keys[k] {
		return nil
	}
	delete(r.f.vals[k], strings.ToLower(name))
	if len(r.f.vals[k]) == 0 {
		delete(r.f.vals, k)
	}
	return nil
}

func (r fakeReg) KeyExists(key string) (bool, error) { return r.f.keys[strings.ToLower(key)], nil }

func (r fakeReg) ValueNames(key string) ([]string, error) {
	k := strings.ToLower(key)
	if !r.f.keys[k] {
		return nil, fmt.Errorf("key %s: %w", key, ErrNotExist)
	}
	var out []string
	for n := range r.f.vals[k] {
		out = append(out, n)
	}
	return out, nil
}

func (r fakeReg) DeleteKey(key string) error {
	if err := r.f.spend(); err != nil {
		return err
	}
	k := strings.ToLower(key)
	if !r.f.keys[k] {
		return fmt.Errorf("key %s: %w", key, ErrNotExist)
	}
	if len(r.f.vals[k]) > 0 {
		return fmt.Errorf("key %s: %w", key, ErrNotEmpty)
	}
	for o := range r.f.keys {
		if strings.HasPrefix(o, k+`\`) {
			return fmt.Errorf("key %s: %w", key, ErrNotEmpty)
		}
	}
	delete(r.f.keys, k)
	return nil
}

type fakeSvc struct{ f *fakeWin }

func (s fakeSvc) Query(name string) (ServiceState, error) {
	st, ok := s.f.services[name]
	if !ok {
		return st, fmt.Errorf("service %s: %w", name, ErrNotExist)
	}
	return st, nil
}

func (s fakeSvc) SetStartType(name string, t StartType) error {
	if err := s.f.spend(); err != nil {
		return err
	}
	st := s.f.services[name]
	st.Start = t
	s.f.services[name] = st
	return nil
}

func (s fakeSvc) Stop(_ context.Context, name string) error {
	if err := s.f.spend(); err != nil {
		return err
	}
	st := s.f.services[name]
	st.Running = false
	s.f.services[name] = st
	return nil
}

func (s fakeSvc) Start(_ context.Context, name string) error {
	if err := s.f.spend(); err != nil {
		return err
	}
	st := s.f.services[name]
	if st.Start == StartDisabled {
		return errors.New("service is disabled")
	}
	st.Running = true
	s.f.services[name] = st
	return nil
}

type fakeAcct struct{ f *fakeWin }

func (a fakeAcct) MinPasswordLen() (int, error) { return a.f.minLen, nil }
func (a fakeAcct) SetMinPasswordLen(n int) error {
	if err := a.f.spend(); err != nil {
		return err
	}
	a.f.minLen = n
	return nil
}
func (a fakeAcct) Guest() (GuestAccount, error) { return a.f.guest, nil }
func (a fakeAcct) SetGuestEnabled(on bool) error {
	if err := a.f.spend(); err != nil {
		return err
	}
	a.f.guest.Enabled = on
	return nil
}
