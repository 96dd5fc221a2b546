//go:build windows

package harden

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// LocalWindows is this machine through the documented Windows APIs:
// the registry (advapi32 via x/sys/windows/registry), the service control
// manager (svc/mgr), the firewall's Group Policy store in the registry
// with userenv's RefreshPolicyEx, and netapi32 for the account policy.
func LocalWindows() (*Windows, error) {
	reg := winRegistry{}
	return &Windows{
		Registry:      reg,
		Services:      winServices{},
		Firewall:      RegistryFirewall{Reg: reg, RefreshPolicy: refreshMachinePolicy},
		Accounts:      winAccounts{},
		RemoteSession: remoteSession,
	}, nil
}

// DefaultStateDir is %ProgramData%\minerguard.
func DefaultStateDir() string {
	p, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		return ""
	}
	return filepath.Join(p, "minerguard")
}

// winRegistry is HKEY_LOCAL_MACHINE, 64-bit view.
type winRegistry struct{}

const wow64 = registry.WOW64_64KEY

func regErr(key, name string, err error) error {
	switch {
	case errors.Is(err, registry.ErrNotExist):
		return fmt.Errorf(`HKLM\%s\%s: %w`, key, name, ErrNotExist)
	case errors.Is(err, registry.ErrUnexpectedType):
		return fmt.Errorf(`HKLM\%s\%s: %w`, key, name, ErrType)
	}
	return fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
}

func (winRegistry) read(key, name string, get func(registry.Key) error) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|wow64)
	if err != nil {
		return regErr(key, name, err)
	}
	defer k.Close()
	if err := get(k); err != nil {
		return regErr(key, name, err)
	}
	return nil
}

func (r winRegistry) GetDWORD(key, name string) (uint32, error) {
	var v uint64
	err := r.read(key, name, func(k registry.Key) error {
		var typ uint32
		var err error
		v, typ, err = k.GetIntegerValue(name)
		if err == nil && typ != registry.DWORD {
			return registry.ErrUnexpectedType
		}
		return err
	})
	return uint32(v), err
}

func (r winRegistry) GetString(key, name string) (string, error) {
	var v string
	err := r.read(key, name, func(k registry.Key) error {
		var err error
		v, _, err = k.GetStringValue(name)
		return err
	})
	return v, err
}

func (r winRegistry) GetBinary(key, name string) ([]byte, error) {
	var v []byte
	err := r.read(key, name, func(k registry.Key) error {
		var err error
		v, _, err = k.GetBinaryValue(name)
		return err
	})
	return v, err
}

func (winRegistry) write(key, name string, set func(registry.Key) error) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE|wow64)
	if err != nil {
		return regErr(key, name, err)
	}
	defer k.Close()
	if err := set(k); err != nil {
		return regErr(key, name, err)
	}
	return nil
}

func (r winRegistry) SetDWORD(key, name string, v uint32) error {
	return r.write(key, name, func(k registry.Key) error { return k.SetDWordValue(name, v) })
}

func (r winRegistry) SetString(key, name, v string) error {
	return r.write(key, name, func(k registry.Key) error { return k.SetStringValue(name, v) })
}

func (winRegistry) DeleteValue(key, name string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE|wow64)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return regErr(key, name, err)
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return regErr(key, name, err)
	}
	return nil
}

func (winRegistry) KeyExists(key string) (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|wow64)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		// The key is there, only not readable by this account.
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf(`HKLM\%s: %w`, key, err)
	}
	k.Close()
	return true, nil
}

func (winRegistry) ValueNames(key string) ([]string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|wow64)
	if err != nil {
		return nil, regErr(key, "", err)
	}
	defer k.Close()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, regErr(key, "", err)
	}
	return names, nil
}

func (winRegistry) DeleteKey(key string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS|wow64)
	if err != nil {
		return regErr(key, "", err)
	}
	st, err := k.Stat()
	k.Close()
	if err != nil {
		return regErr(key, "", err)
	}
	if st.SubKeyCount > 0 || st.ValueCount > 0 {
		return fmt.Errorf(`HKLM\%s: %w`, key, ErrNotEmpty)
	}
	// RegDeleteKeyEx with the 64-bit view (registry.DeleteKey has no view
	// argument; amd64 and arm64 builds see the 64-bit view anyway).
	if err := registry.DeleteKey(registry.LOCAL_MACHINE, key); err != nil {
		return regErr(key, "", err)
	}
	return nil
}

// winServices is the service control manager.
type winServices struct{}

func openService(name string, access uint32) (*mgr.Service, func(), error) {
	h, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return nil, nil, fmt.Errorf("service control manager: %w", err)
	}
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		windows.CloseServiceHandle(h)
		return nil, nil, err
	}
	sh, err := windows.OpenService(h, p, access)
	if err != nil {
		windows.CloseServiceHandle(h)
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return nil, nil, fmt.Errorf("service %s: %w", name, ErrNotExist)
		}
		return nil, nil, fmt.Errorf("service %s: %w", name, err)
	}
	s := &mgr.Service{Name: name, Handle: sh}
	return s, func() { s.Close(); windows.CloseServiceHandle(h) }, nil
}

func (winServices) Query(name string) (ServiceState, error) {
	s, done, err := openService(name, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return ServiceState{}, err
	}
	defer done()
	// QueryServiceConfig alone: mgr's Config also asks QueryServiceConfig2
	// for descriptions, which is not needed and not everywhere implemented.
	start, err := startType(s.Handle)
	if err != nil {
		return ServiceState{}, fmt.Errorf("service %s: %w", name, err)
	}
	st, err := s.Query()
	if err != nil {
		return ServiceState{}, fmt.Errorf("service %s: %w", name, err)
	}
	return ServiceState{Start: start, Running: st.State != svc.Stopped}, nil
}

func startType(h windows.Handle) (StartType, error) {
	n := uint32(1024)
	for {
		b := make([]byte, n)
		p := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0]))
		err := windows.QueryServiceConfig(h, p, n, &n)
		if err == nil {
			return StartType(p.StartType), nil
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) || n <= uint32(len(b)) || n > 1<<20 {
			return 0, fmt.Errorf("QueryServiceConfig: %w", err)
		}
	}
}

func (winServices) SetStartType(name string, t StartType) error {
	s, done, err := openService(name, windows.SERVICE_CHANGE_CONFIG)
	if err != nil {
		return err
	}
	defer done()
	// ChangeServiceConfig with SERVICE_NO_CHANGE everywhere else: mgr's
	// UpdateConfig would rewrite the account and password too.
	nc := uint32(windows.SERVICE_NO_CHANGE)
	return windows.ChangeServiceConfig(s.Handle, nc, uint32(t), nc, nil, nil, nil, nil, nil, nil, nil)
}

func waitState(ctx context.Context, s *mgr.Service, want svc.State) error {
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s: still in state %d: %w", s.Name, st.State, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (winServices) Stop(ctx context.Context, name string) error {
	s, done, err := openService(name, windows.SERVICE_STOP|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return waitState(ctx, s, svc.Stopped)
}

func (winServices) Start(ctx context.Context, name string) error {
	s, done, err := openService(name, windows.SERVICE_START|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return err
	}
	defer done()
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return waitState(ctx, s, svc.Running)
}

var (
	modnetapi32          = windows.NewLazySystemDLL("netapi32.dll")
	procNetUserModalsGet = modnetapi32.NewProc("NetUserModalsGet")
	procNetUserModalsSet = modnetapi32.NewProc("NetUserModalsSet")
	procNetUserSetInfo   = modnetapi32.NewProc("NetUserSetInfo")
	moduserenv           = windows.NewLazySystemDLL("userenv.dll")
	procRefreshPolicyEx  = moduserenv.NewProc("RefreshPolicyEx")
	moduser32            = windows.NewLazySystemDLL("user32.dll")
	procGetSystemMetrics = moduser32.NewProc("GetSystemMetrics")
)

// winAccounts is the local SAM policy through netapi32 (lmaccess.h).
type winAccounts struct{}

// userModalsInfo0 is USER_MODALS_INFO_0.
type userModalsInfo0 struct {
	MinPasswdLen, MaxPasswdAge, MinPasswdAge, ForceLogoff, PasswordHistLen uint32
}

// userInfo20 is USER_INFO_20.
type userInfo20 struct {
	Name, FullName, Comment *uint16
	Flags, UserID           uint32
}

const (
	ufAccountDisable = 0x0002 // UF_ACCOUNTDISABLE
	guestRID         = 501    // DOMAIN_USER_RID_GUEST
)

func netErr(call string, r uintptr) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", call, windows.Errno(r))
}

func (winAccounts) MinPasswordLen() (int, error) {
	if err := procNetUserModalsGet.Find(); err != nil {
		return 0, err
	}
	var buf *byte
	r, _, _ := procNetUserModalsGet.Call(0, 0, uintptr(unsafe.Pointer(&buf)))
	if err := netErr("NetUserModalsGet", r); err != nil {
		return 0, err
	}
	defer windows.NetApiBufferFree(buf)
	return int((*userModalsInfo0)(unsafe.Pointer(buf)).MinPasswdLen), nil
}

func (winAccounts) SetMinPasswordLen(n int) error {
	if err := procNetUserModalsSet.Find(); err != nil {
		return err
	}
	v := uint32(n) // USER_MODALS_INFO_1001
	var parmErr uint32
	r, _, _ := procNetUserModalsSet.Call(0, 1001, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&parmErr)))
	return netErr("NetUserModalsSet", r)
}

func guest() (name string, flags uint32, err error) {
	var buf *byte
	var read, total, resume uint32
	const filterNormalAccount = 0x0002    // FILTER_NORMAL_ACCOUNT
	const maxPreferredLength = 0xFFFFFFFF // MAX_PREFERRED_LENGTH
	for {
		e := windows.NetUserEnum(nil, 20, filterNormalAccount, &buf, maxPreferredLength, &read, &total, &resume)
		if e != nil && !errors.Is(e, windows.ERROR_MORE_DATA) {
			return "", 0, fmt.Errorf("NetUserEnum: %w", e)
		}
		if buf != nil {
			users := unsafe.Slice((*userInfo20)(unsafe.Pointer(buf)), read)
			for _, u := range users {
				if u.UserID == guestRID {
					name, flags = windows.UTF16PtrToString(u.Name), u.Flags
					windows.NetApiBufferFree(buf)
					return name, flags, nil
				}
			}
			windows.NetApiBufferFree(buf)
			buf = nil
		}
		if e == nil {
			return "", 0, fmt.Errorf("guest account (RID 501): %w", ErrNotExist)
		}
	}
}

func (winAccounts) Guest() (GuestAccount, error) {
	name, flags, err := guest()
	if err != nil {
		return GuestAccount{}, err
	}
	return GuestAccount{Name: name, Enabled: flags&ufAccountDisable == 0}, nil
}

func (winAccounts) SetGuestEnabled(on bool) error {
	name, flags, err := guest()
	if err != nil {
		return err
	}
	if on {
		flags &^= ufAccountDisable
	} else {
		flags |= ufAccountDisable
	}
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return err
	}
	if err := procNetUserSetInfo.Find(); err != nil {
		return err
	}
	v := flags // USER_INFO_1008
	var parmErr uint32
	r, _, _ := procNetUserSetInfo.Call(0, uintptr(unsafe.Pointer(p)), 1008, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&parmErr)))
	return netErr("NetUserSetInfo", r)
}

// refreshMachinePolicy is RefreshPolicyEx(TRUE, RP_FORCE): the firewall
// re-reads its Group Policy store.
func refreshMachinePolicy() error {
	if err := procRefreshPolicyEx.Find(); err != nil {
		return err
	}
	const rpForce = 1
	r, _, e := procRefreshPolicyEx.Call(1, rpForce)
	if r == 0 {
		return fmt.Errorf("RefreshPolicyEx: %w", e)
	}
	return nil
}

// remoteSession is GetSystemMetrics(SM_REMOTESESSION).
func remoteSession() bool {
	if procGetSystemMetrics.Find() != nil {
		return false
	}
	const smRemoteSession = 0x1000
	r, _, _ := procGetSystemMetrics.Call(smRemoteSession)
	return r != 0
}
