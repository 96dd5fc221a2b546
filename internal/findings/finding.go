package findings

import "time"

// Signal says what kind of evidence a finding is, so the scan engine can
// weigh findings about one process together: a miner that is identified AND
// disguised AND talks to a pool is worse than any one of those alone.
type Signal string

// Signals used by the verdict rules.
const (
	SignalIdentity    Signal = "identity"    // known miner name, flags, config, signature, wallet
	SignalDisguise    Signal = "disguise"    // deleted/memfd exe, temp dir, kernel-thread or daemon look-alike
	SignalNetwork     Signal = "network"     // connection to a pool address, domain or mining port
	SignalResource    Signal = "resource"    // CPU or GPU load
	SignalHiding      Signal = "hiding"      // hidden processes, preload rootkits
	SignalPersistence Signal = "persistence" // cron, services, start-up files
	SignalAccount     Signal = "account"     // users, keys, logins
	SignalIntegrity   Signal = "integrity"   // tampered system files
	SignalHardening   Signal = "hardening"   // configuration advice
	SignalStatus      Signal = "status"      // what the scanner could or could not do
)

// Finding is one observation by one check.
type Finding struct {
	// Rule is a stable identifier such as "process.miner_name"; it never
	// changes meaning between versions.
	Rule string `json:"rule"`
	// Check is the registry id of the check that produced the finding.
	Check       string   `json:"check"`
	Severity    Severity `json:"severity"`
	Signal      Signal   `json:"signal"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Evidence    Evidence `json:"evidence"`
	Remediation string   `json:"remediation,omitempty"`
	// Confidence in [0,1] that the finding means what its title says.
	Confidence float64 `json:"confidence"`
	// Incident is the id of the incident this finding was grouped into.
	Incident string `json:"incident,omitempty"`
}

// Evidence is what a finding rests on. Every field is optional; paths are
// relative to the scanned root (they start with "/" and never contain the
// --root prefix).
type Evidence struct {
	PID        int      `json:"pid,omitempty"`
	PPID       int      `json:"ppid,omitempty"`
	TID        int      `json:"tid,omitempty"`
	UID        *int     `json:"uid,omitempty"`
	User       string   `json:"user,omitempty"`
	Comm       string   `json:"comm,omitempty"`
	Exe        string   `json:"exe,omitempty"`
	Cmdline    string   `json:"cmdline,omitempty"`
	Cwd        string   `json:"cwd,omitempty"`
	Path       string   `json:"path,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	Line       int      `json:"line,omitempty"`
	Content    string   `json:"content,omitempty"`
	SHA256     string   `json:"sha256,omitempty"`
	Size       int64    `json:"size,omitempty"`
	Local      string   `json:"local,omitempty"`
	Remote     string   `json:"remote,omitempty"`
	Protocol   string   `json:"protocol,omitempty"`
	Domain     string   `json:"domain,omitempty"`
	URL        string   `json:"url,omitempty"`
	Wallet     string   `json:"wallet,omitempty"`
	Coin       string   `json:"coin,omitempty"`
	Match      []string `json:"match,omitempty"`
	Family     string   `json:"family,omitempty"`
	CPUPercent float64  `json:"cpu_percent,omitempty"`
	GPUPercent float64  `json:"gpu_percent,omitempty"`
	GPUMemMiB  uint64   `json:"gpu_mem_mib,omitempty"`
	GPU        string   `json:"gpu,omitempty"`
	Tree       []int    `json:"tree,omitempty"`
	// Container is the container id (or name) a process or file belongs to.
	Container string `json:"container,omitempty"`

	// Network evidence (minerguard net).
	SrcIP     string     `json:"src_ip,omitempty"`
	SrcPort   int        `json:"src_port,omitempty"`
	DstIP     string     `json:"dst_ip,omitempty"`
	DstPort   int        `json:"dst_port,omitempty"`
	SNI       string     `json:"sni,omitempty"`
	Dialect   string     `json:"dialect,omitempty"`
	Worker    string     `json:"worker,omitempty"`
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
	Packets   uint64     `json:"packets,omitempty"`
	Bytes     uint64     `json:"bytes,omitempty"`

	// Details holds check-specific facts that have no field of their own.
	Details map[string]string `json:"details,omitempty"`
}

// Incident is the verdict on one suspicious process (with the process tree
// that keeps it alive), or on one artefact when no process is involved.
type Incident struct {
	ID         string   `json:"id"`
	Severity   Severity `json:"severity"`
	Confidence float64  `json:"confidence"`
	Title      string   `json:"title"`
	// Summary explains the verdict in one sentence per signal.
	Summary []string `json:"summary"`
	PID     int      `json:"pid,omitempty"`
	Comm    string   `json:"comm,omitempty"`
	Exe     string   `json:"exe,omitempty"`
	Cmdline string   `json:"cmdline,omitempty"`
	User    string   `json:"user,omitempty"`
	Tree    []int    `json:"tree,omitempty"`
	// PIDs are every process in the incident; Paths every host file it involves.
	PIDs     []int    `json:"pids,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	Remotes  []string `json:"remotes,omitempty"`
	Signals  []Signal `json:"signals"`
	Rules    []string `json:"rules"`
	Findings []int    `json:"findings"`
}
