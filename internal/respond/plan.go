package respond

import (
	"cmp"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/host"
)

// Kind names what an action does.
type Kind string

// Action kinds, in the order a plan runs them.
const (
	KindFreeze       Kind = "freeze"        // SIGSTOP every process of the incidents
	KindEvidence     Kind = "evidence"      // copy exe, cmdline, environ, maps, connections into the vault
	KindRemoveLines  Kind = "remove_lines"  // delete the malicious lines of a crontab, profile, authorized_keys...
	KindQuarantine   Kind = "quarantine"    // move a file or link into the vault
	KindLockAccount  Kind = "lock_account"  // lock a backdoor account (shadow '!' and nologin shell)
	KindRestoreOrig  Kind = "restore_orig"  // put back the .orig copy of a replaced system file
	KindBlockDomains Kind = "block_domains" // sinkhole the incident's pool domains in /etc/hosts
	KindFirewall     Kind = "firewall"      // add to minerguard's own nftables table: pool addresses, mining ports, inbound ports
	KindConfigure    Kind = "configure"     // set lines in a configuration file (harden)
	KindStopUnits    Kind = "stop_units"    // stop running services (harden); undo starts them again
	KindReloadUnits  Kind = "reload_units"  // make services re-read changed configuration (sshd)
	KindKill         Kind = "kill"          // SIGKILL the frozen processes, then sweep for respawns
	KindAdvise       Kind = "advise"        // what minerguard cannot do itself (reinstall a package)
)

// kindOrder is the apply order: freeze first so nothing respawns while
// persistence goes, kill last so a restarted copy is caught by the sweep.
var kindOrder = map[Kind]int{KindFreeze: 0, KindEvidence: 1, KindRemoveLines: 2, KindQuarantine: 3, KindLockAccount: 4,
	KindRestoreOrig: 5, KindBlockDomains: 6, KindFirewall: 7, KindConfigure: 8, KindStopUnits: 9, KindReloadUnits: 10, KindKill: 11, KindAdvise: 12}

// Proc identifies one process across time: a pid with its start time, so a
// reused pid is never signalled.
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	Comm      string `json:"comm,omitempty"`
	Exe       string `json:"exe,omitempty"`
	Cmdline   string `json:"cmdline,omitempty"`
	Why       string `json:"why,omitempty"`
	// Files are the process's own program and scripts, quarantined with it.
	Files []string `json:"files,omitempty"`
}

// Action is one step of a plan.
type Action struct {
	Kind  Kind   `json:"kind"`
	Title string `json:"title"`
	// Path is the host path a file action changes.
	Path string `json:"path,omitempty"`
	// Source is the file restore_orig copies from.
	Source  string     `json:"source,omitempty"`
	Edits   []LineEdit `json:"edits,omitempty"`
	Procs   []Proc     `json:"procs,omitempty"`
	Domains []string   `json:"domains,omitempty"`
	// Append is added at the end of the file by configure (once); Create
	// makes the file (mode 0644, root) when it does not exist.
	Append []byte `json:"append,omitempty"`
	// Prepend is put at the top of the file by configure (once): sshd
	// takes the first value of a directive, and a Match block at the end
	// would swallow appended lines.
	Prepend []byte `json:"prepend,omitempty"`
	Create  bool   `json:"create,omitempty"`
	// Firewall is what a firewall action adds to its table (merged with
	// what the table already holds).
	Firewall *firewall.Ruleset `json:"firewall,omitempty"`
	// Units are the services stop_units stops.
	Units []string `json:"units,omitempty"`
	// Remotes are the pool endpoints the processes used, for verify.
	Remotes []string `json:"remotes,omitempty"`
	User    string   `json:"user,omitempty"`
	Advice  string   `json:"advice,omitempty"`
	// Incident and Findings say which findings this action answers
	// (indexes into the report's findings).
	Incident string            `json:"incident,omitempty"`
	Findings []int             `json:"findings,omitempty"`
	Rules    []string          `json:"rules,omitempty"`
	Severity findings.Severity `json:"severity"`
}

// Identity says which machine a journal belongs to; undo and resume refuse
// a journal from another one.
type Identity struct {
	Hostname  string `json:"hostname"`
	MachineID string `json:"machine_id"`
	Root      string `json:"root"`
}

// Plan is the reviewed list of actions.
type Plan struct {
	Tool     string    `json:"tool"`
	Created  time.Time `json:"created"`
	Host     Identity  `json:"host"`
	Live     bool      `json:"live"`
	Actions  []Action  `json:"actions"`
	Refusals []string  `json:"refusals,omitempty"`
	// Skipped lists findings at or above the threshold that no action
	// answers, with why.
	Skipped []string `json:"skipped,omitempty"`
}

// HostIdentity reads the identity of the machine whose root is h.
func HostIdentity(h host.Host) Identity {
	id := Identity{Root: h.Root()}
	if b, err := h.FS().ReadFile("/etc/machine-id"); err == nil {
		id.MachineID = strings.TrimSpace(string(b))
	}
	if b, err := h.FS().ReadFile("/etc/hostname"); err == nil {
		id.Hostname = strings.TrimSpace(string(b))
	}
	if id.Hostname == "" && h.Proc() != nil {
		if n, err := os.Hostname(); err == nil {
			id.Hostname = n
		}
	}
	return id
}

// Same reports whether two identities are one machine.
func (a Identity) Same(b Identity) bool {
	if a.MachineID != "" || b.MachineID != "" {
		return a.MachineID == b.MachineID
	}
	return a.Hostname == b.Hostname
}

func (a Identity) String() string {
	return fmt.Sprintf("%s (machine-id %s, root %s)", cmp.Or(a.Hostname, "unknown"), cmp.Or(a.MachineID, "unknown"), a.Root)
}

// sortActions puts actions in apply order, keeping the order within a kind.
func sortActions(as []Action) {
	sort.SliceStable(as, func(i, j int) bool { return kindOrder[as[i].Kind] < kindOrder[as[j].Kind] })
}

// realNoFollow maps a host path to where it is on this machine, following
// links in its directories (inside the root) but not a final link: a
// quarantined .wants link is the link, not the unit it points to.
func realNoFollow(fsys host.FS, p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return "", fmt.Errorf("refusing to act on /")
	}
	dir, err := fsys.RealPath(path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, path.Base(p)), nil
}

// addUnique appends s to list once.
func addUnique(list []string, s ...string) []string {
	for _, x := range s {
		if x != "" && !slices.Contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}
