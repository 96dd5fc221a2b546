package harden

import (
	"context"
	"errors"
)

// The Windows items read and change the machine only through these four
// small interfaces, so every decision and the apply/rollback journal are
// tested on Linux with in-memory fakes; the real implementations live in
// winsys_windows.go.

// ErrNotExist is wrapped by Registry reads of a value or key that is
// absent (errors.Is(err, ErrNotExist)).
var ErrNotExist = errors.New("does not exist")

// ErrType is wrapped by a Registry read of a value of another type.
var ErrType = errors.New("unexpected value type")

// ErrNotEmpty is wrapped by Registry.DeleteKey of a key with subkeys or
// values.
var ErrNotEmpty = errors.New("key is not empty")

// ErrNotWindows is returned by LocalWindows on other systems.
var ErrNotWindows = errors.New("the Windows items need a Windows host")

// Registry is HKEY_LOCAL_MACHINE; keys are paths below it
// (`SYSTEM\CurrentControlSet\...`).
type Registry interface {
	GetDWORD(key, name string) (uint32, error)
	GetString(key, name string) (string, error)
	GetBinary(key, name string) ([]byte, error)
	// SetDWORD and SetString create the key (and its parents) if needed.
	SetDWORD(key, name string, v uint32) error
	SetString(key, name, v string) error
	// DeleteValue of an absent value (or key) is not an error.
	DeleteValue(key, name string) error
	KeyExists(key string) (bool, error)
	// ValueNames lists a key's values; ErrNotExist when the key is absent.
	ValueNames(key string) ([]string, error)
	// DeleteKey removes a key that has no subkeys and no values; rollback
	// uses it for keys the apply created.
	DeleteKey(key string) error
}

// StartType is a service start type, numbered as Windows numbers them.
type StartType uint32

// Start types.
const (
	StartBoot      StartType = 0
	StartSystem    StartType = 1
	StartAutomatic StartType = 2
	StartManual    StartType = 3
	StartDisabled  StartType = 4
)

func (t StartType) String() string {
	switch t {
	case StartBoot:
		return "boot"
	case StartSystem:
		return "system"
	case StartAutomatic:
		return "automatic"
	case StartManual:
		return "manual"
	case StartDisabled:
		return "disabled"
	}
	return "unknown"
}

// ServiceState is what Services.Query reports.
type ServiceState struct {
	Start   StartType `json:"start"`
	Running bool      `json:"running"`
}

// Services is the service control manager.
type Services interface {
	Query(name string) (ServiceState, error)
	SetStartType(name string, t StartType) error
	// Stop and Start return once the service has reached the state (or
	// ctx ends).
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
}

// Firewall holds firewall rules as MS-GPFAS rule strings, keyed by rule id.
type Firewall interface {
	// Rules lists every rule of every store the firewall merges.
	Rules() ([]FirewallRule, error)
	// Rule reads one of minerguard's own rules (the store rules are added to).
	Rule(id string) (raw string, found bool, err error)
	PutRule(id, raw string) error
	DeleteRule(id string) error
	// Refresh asks the firewall to re-read its policy.
	Refresh() error
}

// GuestAccount is the built-in guest account (RID 501; its name is
// localised, so it is found by RID, never by name).
type GuestAccount struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

// Accounts is the local account database's policy.
type Accounts interface {
	MinPasswordLen() (int, error)
	SetMinPasswordLen(n int) error
	Guest() (GuestAccount, error)
	SetGuestEnabled(on bool) error
}

// Windows is one Windows machine as the harden items see it.
type Windows struct {
	Registry Registry
	Services Services
	Firewall Firewall
	Accounts Accounts
	// RemoteSession reports whether this process runs in a Remote Desktop
	// session (turning RDP off then needs --force); nil means no.
	RemoteSession func() bool
}
