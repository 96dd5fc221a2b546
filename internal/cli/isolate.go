package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/blocklist"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/intel/overlay"
	"github.com/minerguard/minerguard/internal/isolate"
)

const defaultIsolateDir = "/var/lib/minerguard"

type isolateFlags struct {
	mode, stateDir, intelDir, table, netns, minSev string
	from, block, allow                             []string
	blockPorts                                     []uint
	undo, status, dryRun, force                    bool
}

func newIsolateCmd() *cobra.Command {
	var f isolateFlags
	cmd := &cobra.Command{
		Use:   "isolate",
		Short: "Cut the host off from mining pools (--mode pools) or from everything but management (--mode all); --undo restores",
		Long: `isolate changes the firewall through minerguard's own nftables table (inet ` + firewall.DefaultTable + `),
replaced atomically; other tables are never touched.

  --mode pools  drop traffic to and from pool addresses (intel feeds, --from reports,
                --block) and to mining ports (intel, --block-port). The default.
  --mode all    additionally drop everything except loopback, DHCP, IPv6 neighbour
                discovery and the --allow endpoints (and the SSH session you run it
                from, taken from $SSH_CONNECTION). Needs at least one --allow or --force.

Before the firewall changes, the table as it was before the first isolate is saved
under --state-dir; --undo restores exactly that (or removes the table when there was
none). --status shows what is installed; --dry-run prints the table without applying.`,
		Example: `  minerguard isolate --from report.json
  minerguard isolate --mode all --allow 192.0.2.10:22 --allow 10.20.0.0/16
  minerguard isolate --status
  minerguard isolate --undo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runIsolate(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "pools", "pools: block pools and mining ports; all: quarantine, only --allow endpoints reachable")
	fl.StringSliceVar(&f.from, "from", nil, "scan or net report (JSON) whose pool connections to block; repeatable")
	fl.StringSliceVar(&f.block, "block", nil, "address or network to block (ADDR or CIDR); repeatable")
	fl.UintSliceVar(&f.blockPorts, "block-port", nil, "extra destination port to block (TCP and UDP); repeatable")
	fl.StringSliceVar(&f.allow, "allow", nil, "management endpoint kept reachable in --mode all: ADDR, CIDR, ADDR:PORT or [IPv6]:PORT (PORT on either side, e.g. 22 for SSH to this host)")
	fl.StringVar(&f.minSev, "min-severity", "medium", "take report findings and incidents at or above this severity")
	fl.BoolVar(&f.undo, "undo", false, "restore the firewall table as it was before the first isolate")
	fl.BoolVar(&f.status, "status", false, "show the installed table and the saved state")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the table that would be installed; change nothing")
	fl.BoolVar(&f.force, "force", false, "--mode all without --allow; replace an unreadable table; block the address of your own SSH session")
	fl.StringVar(&f.stateDir, "state-dir", defaultIsolateDir, "where the state for --undo is kept (created 0700)")
	fl.StringVar(&f.intelDir, "intel-dir", defaultIntelDir, "feeds and allowlist kept by `minerguard intel` (missing is fine; the allowlist wins)")
	fl.StringVar(&f.table, "table", firewall.DefaultTable, "nftables table (family inet) minerguard owns")
	fl.StringVar(&f.netns, "netns", "", "work in this network namespace (/run/netns/NAME, /proc/PID/ns/net of a container) instead of the host's")
	return cmd
}

func runIsolate(cmd *cobra.Command, f isolateFlags) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := firewall.ValidTableName(f.table); err != nil {
		return fmt.Errorf("--table: %w", err)
	}
	building := len(f.from) > 0 || len(f.block) > 0 || len(f.blockPorts) > 0 || len(f.allow) > 0 || cmd.Flags().Changed("mode")
	switch {
	case f.undo && f.status:
		return errors.New("--undo and --status exclude each other")
	case (f.undo || f.status) && (building || f.dryRun):
		return errors.New("--undo and --status take no --mode, --from, --block, --block-port, --allow or --dry-run")
	}
	var opts []firewall.Option
	key := f.table
	if f.netns != "" {
		if _, err := os.Stat(f.netns); err != nil {
			return fmt.Errorf("--netns: %w", err)
		}
		opts = append(opts, firewall.WithNetNS(f.netns))
		key += "-netns" + strings.NewReplacer("/", "-", ".", "_").Replace(f.netns)
	}
	fw := isolate.Kernel{Opts: opts}
	store := isolate.Store{Dir: f.stateDir, Key: key}
	ctx := cmd.Context()
	switch {
	case f.status:
		return isolateStatus(cmd, fw, store, f.table)
	case f.undo:
		st, warn, err := isolate.Undo(ctx, fw, store)
		for _, w := range warn {
			fmt.Fprintf(errw, "minerguard: warning: %s\n", w)
		}
		if err != nil {
			return err
		}
		if st.Previous != nil {
			fmt.Fprintf(out, "restored table inet %s as it was before %s:\n%s", st.Table, st.Created.Format(time.RFC3339), st.Previous)
		} else {
			fmt.Fprintf(out, "removed table inet %s (it did not exist before %s)\n", st.Table, st.Created.Format(time.RFC3339))
		}
		return nil
	}

	rs, notes, err := isolateRuleset(f)
	for _, n := range notes {
		fmt.Fprintf(errw, "minerguard: %s\n", n)
	}
	if err != nil {
		return err
	}
	v4, v6 := 0, 0
	for _, p := range rs.BlockAddrs {
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	fmt.Fprintf(out, "isolate --mode %s: blocking %d IPv4 and %d IPv6 networks and %d ports", f.mode, v4, v6, len(rs.BlockPorts))
	if rs.Isolate {
		fmt.Fprintf(out, "; everything else dropped except %d management endpoints", len(rs.Allow))
	}
	fmt.Fprintf(out, " (table inet %s)\n%s", rs.Name(), rs)
	if f.dryRun {
		fmt.Fprintln(out, "dry run: nothing applied")
		return nil
	}
	host, _ := os.Hostname()
	st, err := isolate.Apply(ctx, fw, store, rs, isolate.Meta{
		Host: host, NetNS: f.netns, Mode: f.mode, Command: os.Args, Now: time.Now().UTC(),
	}, f.force)
	if err != nil {
		return err
	}
	before := "no table"
	if st.Previous != nil {
		before = "the table that was there"
	}
	fmt.Fprintf(out, "applied; `minerguard isolate --undo%s` restores %s (state: %s)\n", undoFlags(f), before, store.Path())
	return nil
}

func undoFlags(f isolateFlags) string {
	var s string
	if f.stateDir != defaultIsolateDir {
		s += " --state-dir " + f.stateDir
	}
	if f.table != firewall.DefaultTable {
		s += " --table " + f.table
	}
	if f.netns != "" {
		s += " --netns " + f.netns
	}
	return s
}

// isolateRuleset builds the table from the flags, the intel and the
// reports; notes tell the operator what was added or left out.
func isolateRuleset(f isolateFlags) (firewall.Ruleset, []string, error) {
	var notes []string
	if f.mode != "pools" && f.mode != "all" {
		return firewall.Ruleset{}, nil, fmt.Errorf("--mode %q: want pools or all", f.mode)
	}
	minSev, err := findings.ParseSeverity(f.minSev)
	if err != nil {
		return firewall.Ruleset{}, nil, fmt.Errorf("--min-severity: %w", err)
	}
	db, err := overlay.LoadIntel(f.intelDir)
	if err != nil {
		return firewall.Ruleset{}, nil, fmt.Errorf("--intel-dir: %w", err)
	}
	// Pool networks from the intel (feeds included) and its strong mining
	// ports, with the allowlist applied, exactly as `blocklist` exports them.
	l := blocklist.FromIntel(db)
	l.ApplyAllow(db.AllowList())
	allowed, err := overlay.Store{Dir: f.intelDir}.Allowed()
	if err != nil {
		return firewall.Ruleset{}, nil, fmt.Errorf("--intel-dir: %w", err)
	}
	rs := firewall.Ruleset{Table: f.table, BlockPorts: append([]uint16{}, l.Ports...)}
	rs.BlockAddrs = append(append(rs.BlockAddrs, l.V4...), l.V6...)
	for _, path := range f.from {
		r, err := os.Open(path)
		if err != nil {
			return firewall.Ruleset{}, notes, fmt.Errorf("--from: %w", err)
		}
		t, err := isolate.FromReport(r, path, minSev)
		r.Close()
		if err != nil {
			return firewall.Ruleset{}, notes, fmt.Errorf("--from: %w", err)
		}
		notes = append(notes, t.Skipped...)
		for _, p := range t.Addrs {
			if by, ok := overlay.Allows(allowed, p.String()); ok {
				notes = append(notes, fmt.Sprintf("%s: %s is allowlisted (%s); not blocked", path, p, by))
				continue
			}
			rs.BlockAddrs = append(rs.BlockAddrs, p)
		}
		for _, p := range t.Ports {
			// A pool on 443 must not cut the web: only mining ports are
			// blocked by port; the pool's address is blocked anyway.
			if _, ok := db.Port(p); ok {
				rs.BlockPorts = append(rs.BlockPorts, p)
			} else {
				notes = append(notes, fmt.Sprintf("%s: port %d is not a mining port; only the addresses using it are blocked", path, p))
			}
		}
	}
	for _, b := range f.block {
		p, err := firewall.ParsePrefix(b)
		if err != nil {
			return firewall.Ruleset{}, notes, fmt.Errorf("--block: %w", err)
		}
		rs.BlockAddrs = append(rs.BlockAddrs, p)
	}
	for _, p := range f.blockPorts {
		if p == 0 || p > 0xffff {
			return firewall.Ruleset{}, notes, fmt.Errorf("--block-port %d: not 1-65535", p)
		}
		rs.BlockPorts = append(rs.BlockPorts, uint16(p))
	}
	ssh, sshErr := sshSession()
	if sshErr != nil {
		notes = append(notes, sshErr.Error())
	}
	if f.mode == "pools" && len(f.allow) > 0 {
		return firewall.Ruleset{}, notes, errors.New("--allow is for --mode all (pools mode drops nothing else)")
	}
	if f.mode == "all" {
		rs.Isolate = true
		for _, a := range f.allow {
			e, err := firewall.ParseEndpoint(a)
			if err != nil {
				return firewall.Ruleset{}, notes, fmt.Errorf("--allow: %w", err)
			}
			rs.Allow = append(rs.Allow, e)
		}
		if len(f.allow) == 0 && !f.force {
			return firewall.Ruleset{}, notes, errors.New("--mode all without --allow would cut every management path; name at least one --allow ADDR[:PORT] (or --force)")
		}
		if ssh != nil {
			rs.Allow = append(rs.Allow, *ssh)
			notes = append(notes, fmt.Sprintf("allowing your SSH session: %s to local port %d (from $SSH_CONNECTION)", ssh.Prefix.Addr(), ssh.Port))
		}
	}
	rs = rs.Normalized()
	if ssh != nil {
		for _, p := range rs.BlockAddrs {
			if p.Contains(ssh.Prefix.Addr()) {
				if !f.force {
					return firewall.Ruleset{}, notes, fmt.Errorf("%s would block %s, the address of your SSH session (--force to block it anyway)", p, ssh.Prefix.Addr())
				}
				notes = append(notes, fmt.Sprintf("blocking %s, the address of your SSH session (--force)", ssh.Prefix.Addr()))
			}
		}
	}
	return rs, notes, rs.Validate()
}

// sshSession is the management endpoint of the SSH session this runs in:
// $SSH_CONNECTION is "client_ip client_port server_ip server_port".
func sshSession() (*firewall.Endpoint, error) {
	v := os.Getenv("SSH_CONNECTION")
	if v == "" {
		return nil, nil
	}
	fs := strings.Fields(v)
	if len(fs) != 4 {
		return nil, fmt.Errorf("$SSH_CONNECTION %q: want 4 fields; your SSH session is not allowed automatically", v)
	}
	a, err := netip.ParseAddr(fs[0])
	if err != nil {
		return nil, fmt.Errorf("$SSH_CONNECTION %q: client address: %v; your SSH session is not allowed automatically", v, err)
	}
	a = a.Unmap().WithZone("")
	e := firewall.Endpoint{Prefix: netip.PrefixFrom(a, a.BitLen())}
	var port uint16
	if _, err := fmt.Sscan(fs[3], &port); err != nil || port == 0 {
		return nil, fmt.Errorf("$SSH_CONNECTION %q: server port %q; your SSH session is not allowed automatically", v, fs[3])
	}
	e.Port = port
	return &e, nil
}

func isolateStatus(cmd *cobra.Command, fw isolate.Firewall, store isolate.Store, table string) error {
	out := cmd.OutOrStdout()
	cur, exists, rerr := fw.Read(cmd.Context(), table)
	st, serr := store.Load()
	switch {
	case rerr != nil && !exists:
		return rerr
	case rerr != nil:
		fmt.Fprintf(out, "table inet %s is installed but not as minerguard writes it: %v\n", table, rerr)
	case !exists:
		fmt.Fprintf(out, "table inet %s is not installed\n", table)
	default:
		fmt.Fprint(out, cur)
	}
	if serr != nil {
		return serr
	}
	if st == nil {
		fmt.Fprintf(out, "no isolate state at %s\n", store.Path())
		return nil
	}
	writeIsolateState(out, st, store.Path())
	if exists && rerr == nil && !cur.Equal(st.Applied) {
		fmt.Fprintln(out, "warning: the installed table differs from what isolate applied")
	}
	return nil
}

func writeIsolateState(w io.Writer, st *isolate.State, path string) {
	fmt.Fprintf(w, "isolated (--mode %s) since %s, last change %s, on host %s (state: %s)\n",
		st.Mode, st.Created.Format(time.RFC3339), st.Updated.Format(time.RFC3339), st.Host, path)
	switch {
	case st.Previous != nil:
		fmt.Fprintf(w, "--undo restores the table as it was before (%d networks, %d ports, isolate %v)\n",
			len(st.Previous.BlockAddrs), len(st.Previous.BlockPorts), st.Previous.Isolate)
	case st.PreviousExisted:
		fmt.Fprintf(w, "--undo removes the table (what was there before could not be kept: %s)\n", st.PreviousError)
	default:
		fmt.Fprintln(w, "--undo removes the table (there was none before)")
	}
}
