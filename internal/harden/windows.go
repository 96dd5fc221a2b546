package harden

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/intel"
)

// Registry keys and names the Windows items read and change (all below
// HKEY_LOCAL_MACHINE).
const (
	svcServer         = "LanmanServer"
	keyLanmanParams   = `SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters`
	keyTS             = `SYSTEM\CurrentControlSet\Control\Terminal Server`
	keyTSPolicy       = `SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`
	valDenyTS         = "fDenyTSConnections"
	keyDefender       = `SOFTWARE\Microsoft\Windows Defender`
	keyDefenderRTP    = keyDefender + `\Real-Time Protection`
	keyDefenderSig    = keyDefender + `\Signature Updates`
	keyDefenderPol    = `SOFTWARE\Policies\Microsoft\Windows Defender`
	keyDefenderPolRTP = keyDefenderPol + `\Real-Time Protection`
	valDisableRTM     = "DisableRealtimeMonitoring"
	valDisableAS      = "DisableAntiSpyware"
)

// Ids and display names of the two rules minerguard adds (its own
// identifiers, not intelligence: the ports come from harden.json).
const (
	fwRuleTCP  = "minerguard-high-risk-ports-tcp"
	fwRuleUDP  = "minerguard-high-risk-ports-udp"
	fwRuleName = "minerguard high-risk ports"
)

// fwProfiles are the firewall profiles: the policy store's key, the
// local store's key.
var fwProfiles = [][2]string{{"DomainProfile", "DomainProfile"}, {"PrivateProfile", "StandardProfile"}, {"PublicProfile", "PublicProfile"}}

// winCtx is what a Windows item sees.
type winCtx struct {
	w   *Windows
	cfg config
	now time.Time
}

// winItem is one Windows measure: its audit and, where the change is a
// state that can be put back, its fix.
type winItem struct {
	ID, Title, Why string
	OptIn          bool
	audit          func(ctx context.Context, c *winCtx) Result
	// fix makes the change through ch (which journals each step first)
	// and says what it did.
	fix func(ctx context.Context, c *winCtx, ch *changer) (string, error)
}

func loadConfigDB(db *intel.DB) (config, error) {
	var c config
	if db == nil {
		return c, errors.New("no intel database")
	}
	err := db.Section("harden", &c)
	if err == nil && (len(c.HighRiskPorts) == 0 || c.MinPasswordLen <= 0) {
		err = errors.New("intel harden section: high_risk_ports and min_password_length are required")
	}
	return c, err
}

// AuditWindows runs the selected Windows items (all when only is empty).
func AuditWindows(ctx context.Context, w *Windows, db *intel.DB, now time.Time, only, skip []string) ([]Result, error) {
	cfg, err := loadConfigDB(db)
	if err != nil {
		return nil, err
	}
	c := &winCtx{w: w, cfg: cfg, now: now}
	want := selector(only, skip)
	var out []Result
	for _, it := range Items() {
		if it.win == nil || !want(it.ID) {
			continue
		}
		r := it.win.audit(ctx, c)
		r.ID, r.Title, r.Why = it.ID, it.Title, it.Why
		out = append(out, r)
	}
	return out, nil
}

// dword reads a DWORD; absent is (0, false, nil).
func dword(reg Registry, key, name string) (uint32, bool, error) {
	v, err := reg.GetDWORD(key, name)
	if errors.Is(err, ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
	}
	return v, true, nil
}

func showDWORD(v uint32, ok bool) string {
	if !ok {
		return "absent"
	}
	return fmt.Sprint(v)
}

var windowsItems = []winItem{
	{
		ID: "win.smb.server", Title: "The Server (SMB file sharing) service is disabled", OptIn: true,
		Why: "SMB worms (EternalBlue and its miners) spread through the Server service; the seeds disable it where nothing is shared.",
		audit: func(_ context.Context, c *winCtx) Result {
			st, err := c.w.Services.Query(svcServer)
			if errors.Is(err, ErrNotExist) {
				return Result{Status: Pass, Evidence: "the LanmanServer service is not installed"}
			}
			if err != nil {
				return warnErr(err)
			}
			ev := fmt.Sprintf("LanmanServer start=%s, %s", st.Start, running(st.Running))
			if st.Start == StartDisabled && !st.Running {
				return Result{Status: Pass, Evidence: ev}
			}
			// Warn, not fail: the seeds themselves call this too much for
			// hosts that share files or printers (win.smb.autoshare is the
			// gentler measure).
			return Result{Status: Warn, Evidence: ev,
				Change: "if nothing is shared from this host: `sc.exe config LanmanServer start= disabled` and `sc.exe stop LanmanServer` (minerguard harden --apply --only win.smb.server); this ends file and printer sharing"}
		},
		fix: func(ctx context.Context, c *winCtx, ch *changer) (string, error) {
			return ch.disableService(ctx, svcServer)
		},
	},
	{
		ID: "win.smb.autoshare", Title: "Administrative shares (C$, ADMIN$) are not created", Why: "Miners copy themselves to C$/ADMIN$ of every host whose password they guess; the seeds set AutoShareWks (and AutoShareServer) to 0.",
		audit: func(_ context.Context, c *winCtx) Result {
			var parts, bad []string
			for _, n := range []string{"AutoShareWks", "AutoShareServer"} {
				v, ok, err := dword(c.w.Registry, keyLanmanParams, n)
				if err != nil {
					return warnErr(err)
				}
				parts = append(parts, n+"="+showDWORD(v, ok))
				if !ok || v != 0 {
					bad = append(bad, n)
				}
			}
			ev := strings.Join(parts, ", ") + ` (HKLM\` + keyLanmanParams + ")"
			if len(bad) == 0 {
				return Result{Status: Pass, Evidence: ev, Path: `HKLM\` + keyLanmanParams}
			}
			var cmds []string
			for _, n := range bad {
				cmds = append(cmds, fmt.Sprintf("`reg add \"HKLM\\%s\" /v %s /t REG_DWORD /d 0 /f`", keyLanmanParams, n))
			}
			return Result{Status: Fail, Evidence: ev, Path: `HKLM\` + keyLanmanParams,
				Change: strings.Join(cmds, " and ") + "; the shares go when the Server service restarts (or at reboot)"}
		},
		fix: func(_ context.Context, c *winCtx, ch *changer) (string, error) {
			var did []string
			for _, n := range []string{"AutoShareWks", "AutoShareServer"} {
				if v, ok, err := dword(c.w.Registry, keyLanmanParams, n); err != nil {
					return strings.Join(did, ", "), err
				} else if ok && v == 0 {
					continue
				}
				if err := ch.setDWORD(keyLanmanParams, n, 0); err != nil {
					return strings.Join(did, ", "), err
				}
				did = append(did, n+"=0")
			}
			return strings.Join(did, ", ") + " (effective when the Server service restarts)", nil
		},
	},
	{
		ID: "win.rdp", Title: "Remote Desktop is off", Why: "Brute-forced RDP logins are a common way in for miners; the seeds turn Remote Desktop off where it is not needed.",
		audit: func(_ context.Context, c *winCtx) Result {
			loc, lok, err := dword(c.w.Registry, keyTS, valDenyTS)
			if err != nil {
				return warnErr(err)
			}
			pol, pok, err := dword(c.w.Registry, keyTSPolicy, valDenyTS)
			if err != nil {
				return warnErr(err)
			}
			ev := fmt.Sprintf("fDenyTSConnections=%s (HKLM\\%s)", showDWORD(loc, lok), keyTS)
			deny := lok && loc == 1
			if pok {
				// The Group Policy value wins over the local one.
				ev += fmt.Sprintf(", policy fDenyTSConnections=%d (HKLM\\%s)", pol, keyTSPolicy)
				deny = pol == 1
			}
			if deny {
				return Result{Status: Pass, Evidence: ev, Path: `HKLM\` + keyTS}
			}
			ch := fmt.Sprintf("`reg add \"HKLM\\%s\" /v fDenyTSConnections /t REG_DWORD /d 1 /f`", keyTS)
			if pok {
				ch += fmt.Sprintf(" and the same under HKLM\\%s (Group Policy: Allow users to connect remotely = Disabled)", keyTSPolicy)
			}
			return Result{Status: Fail, Evidence: ev, Path: `HKLM\` + keyTS, Change: ch}
		},
		fix: func(_ context.Context, c *winCtx, ch *changer) (string, error) {
			if c.w.RemoteSession != nil && c.w.RemoteSession() && !ch.force {
				return "", errors.New("this runs in a Remote Desktop session: turning RDP off would stop you reconnecting (use --force, or --skip win.rdp)")
			}
			var did []string
			if v, ok, err := dword(c.w.Registry, keyTS, valDenyTS); err != nil {
				return "", err
			} else if !ok || v != 1 {
				if err := ch.setDWORD(keyTS, valDenyTS, 1); err != nil {
					return "", err
				}
				did = append(did, "fDenyTSConnections=1")
			}
			if v, ok, err := dword(c.w.Registry, keyTSPolicy, valDenyTS); err != nil {
				return strings.Join(did, ", "), err
			} else if ok && v != 1 {
				if err := ch.setDWORD(keyTSPolicy, valDenyTS, 1); err != nil {
					return strings.Join(did, ", "), err
				}
				did = append(did, "policy fDenyTSConnections=1")
			}
			return strings.Join(did, ", ") + " (new connections refused; open sessions stay)", nil
		},
	},
	{
		ID: "win.firewall.high_risk_ports", Title: "The firewall blocks inbound high-risk ports", Why: "The seeds block inbound TCP/UDP 135-139, 445, 3333, 4444, 5555 and 8220: SMB/RPC worms and mining botnets use them.",
		audit: func(_ context.Context, c *winCtx) Result {
			missing, off, ev, err := firewallGaps(c)
			if err != nil {
				return Result{Status: Warn, Evidence: ev + err.Error()}
			}
			if len(missing) == 0 && len(off) == 0 {
				return Result{Status: Pass, Evidence: ev}
			}
			var ch []string
			if len(off) > 0 {
				ch = append(ch, "turn the firewall on for "+strings.Join(off, ", ")+" (`netsh advfirewall set allprofiles state on`)")
			}
			if len(missing) > 0 {
				ch = append(ch, fmt.Sprintf("add an inbound block rule: `New-NetFirewallRule -DisplayName '%s' -Direction Inbound -Action Block -Protocol TCP -LocalPort %s` and the same with -Protocol UDP (or minerguard harden --apply)", fwRuleName, portList(c.cfg.HighRiskPorts, ",")))
			}
			return Result{Status: Fail, Evidence: ev, Change: strings.Join(ch, "; ")}
		},
		fix: func(_ context.Context, c *winCtx, ch *changer) (string, error) {
			missing, off, _, err := firewallGaps(c)
			if missing == nil {
				return "", err
			}
			// An unreadable rule of someone else's does not stop ours
			// being added: at worst a port is blocked twice.
			var did []string
			for _, p := range off {
				if err := ch.setDWORD(keyFwPolicy+`\`+p, "EnableFirewall", 1); err != nil {
					return strings.Join(did, ", "), err
				}
				did = append(did, p+" on")
			}
			for _, r := range []struct {
				id, proto string
				n         int
			}{{fwRuleTCP, "TCP", 6}, {fwRuleUDP, "UDP", 17}} {
				if len(missing[r.n]) == 0 {
					continue
				}
				raw, err := blockRule(fwRuleName+" ("+r.proto+")", r.n, c.cfg.HighRiskPorts)
				if err != nil {
					return strings.Join(did, ", "), err
				}
				if err := ch.putRule(r.id, raw); err != nil {
					return strings.Join(did, ", "), err
				}
				did = append(did, "rule "+r.id)
			}
			return strings.Join(did, ", "), nil
		},
	},
	{
		ID: "win.defender.realtime", Title: "Microsoft Defender real-time protection is on", Why: "Miners turn Defender off through its policy values before they run; the seeds ask for real-time protection.",
		audit: func(_ context.Context, c *winCtx) Result {
			ok, err := c.w.Registry.KeyExists(keyDefender)
			if err != nil {
				return warnErr(err)
			}
			if !ok {
				return Result{Status: Warn, Evidence: `HKLM\` + keyDefender + " is absent: Microsoft Defender is not installed (check the antivirus in use)"}
			}
			off, ev, err := defenderOff(c.w.Registry)
			if err != nil {
				return warnErr(err)
			}
			if len(off) == 0 {
				return Result{Status: Pass, Evidence: ev}
			}
			var names []string
			for _, v := range off {
				names = append(names, `HKLM\`+strings.ReplaceAll(v, "!", `\`))
			}
			return Result{Status: Fail, Evidence: ev,
				Change: "`Set-MpPreference -DisableRealtimeMonitoring $false` and remove the policy values; minerguard harden --apply clears " + strings.Join(names, ", ") + "; if no one here set them, treat the host as compromised"}
		},
		fix: func(_ context.Context, c *winCtx, ch *changer) (string, error) {
			off, _, err := defenderOff(c.w.Registry)
			if err != nil {
				return "", err
			}
			var did []string
			for _, v := range off {
				key, name, _ := strings.Cut(v, "!")
				if key == keyDefenderRTP {
					// Tamper Protection refuses this write; the error then
					// says to use Windows Security.
					if err := ch.setDWORD(key, name, 0); err != nil {
						return strings.Join(did, ", "), fmt.Errorf("%w (with Tamper Protection on, turn real-time protection on in Windows Security)", err)
					}
					did = append(did, name+"=0")
					continue
				}
				if err := ch.deleteValue(key, name); err != nil {
					return strings.Join(did, ", "), err
				}
				did = append(did, "policy "+name+" removed")
			}
			return strings.Join(did, ", "), nil
		},
	},
	{
		ID: "win.defender.signatures", Title: "Microsoft Defender signatures are current", Why: "The seeds ask for current antivirus signatures; stale ones miss new miner builds.",
		audit: func(_ context.Context, c *winCtx) Result {
			ver, err := c.w.Registry.GetString(keyDefenderSig, "AVSignatureVersion")
			if errors.Is(err, ErrNotExist) {
				return Result{Status: Warn, Evidence: `HKLM\` + keyDefenderSig + `\AVSignatureVersion is absent: Microsoft Defender is not installed or has never updated`}
			}
			if err != nil {
				return warnErr(err)
			}
			b, err := c.w.Registry.GetBinary(keyDefenderSig, "SignaturesLastUpdated")
			if err != nil || len(b) != 8 {
				return Result{Status: Warn, Evidence: fmt.Sprintf("signatures %s, SignaturesLastUpdated unreadable (%v, %d bytes)", ver, err, len(b))}
			}
			when := filetime(binary.LittleEndian.Uint64(b))
			age := int(c.now.Sub(when).Hours() / 24)
			ev := fmt.Sprintf("signatures %s, updated %s (%d days ago)", ver, when.UTC().Format(time.RFC3339), age)
			if age <= c.cfg.AVMaxAgeDays {
				return Result{Status: Pass, Evidence: ev, Path: `HKLM\` + keyDefenderSig}
			}
			return Result{Status: Fail, Evidence: ev, Path: `HKLM\` + keyDefenderSig,
				Change: "`& \"$env:ProgramFiles\\Windows Defender\\MpCmdRun.exe\" -SignatureUpdate` (or `Update-MpSignature`), then find out why updates stopped"}
		},
	},
	{
		ID: "win.password.min_length", Title: "Passwords have at least 10 characters", Why: "The seeds ask for 10 or more characters; short passwords fall to SMB and RDP brute force.",
		audit: func(_ context.Context, c *winCtx) Result {
			n, err := c.w.Accounts.MinPasswordLen()
			if err != nil {
				return warnErr(err)
			}
			ev := fmt.Sprintf("minimum password length %d (local account policy)", n)
			if n >= c.cfg.MinPasswordLen {
				return Result{Status: Pass, Evidence: ev}
			}
			return Result{Status: Fail, Evidence: ev, Change: fmt.Sprintf("`net accounts /minpwlen:%d` (on a domain member, set it in the domain's Default Domain Policy)", c.cfg.MinPasswordLen)}
		},
		fix: func(_ context.Context, c *winCtx, ch *changer) (string, error) {
			if err := ch.setMinPasswordLen(c.cfg.MinPasswordLen); err != nil {
				return "", err
			}
			return fmt.Sprintf("minimum password length %d", c.cfg.MinPasswordLen), nil
		},
	},
	{
		ID: "win.accounts.guest", Title: "The Guest account is disabled", Why: "An enabled Guest account lets anyone on the network in without a password.",
		audit: func(_ context.Context, c *winCtx) Result {
			g, err := c.w.Accounts.Guest()
			if errors.Is(err, ErrNotExist) {
				return Result{Status: Pass, Evidence: "no built-in guest account (RID 501)"}
			}
			if err != nil {
				return warnErr(err)
			}
			if !g.Enabled {
				return Result{Status: Pass, Evidence: fmt.Sprintf("%s (RID 501) is disabled", g.Name)}
			}
			return Result{Status: Fail, Evidence: fmt.Sprintf("%s (RID 501) is enabled", g.Name), Change: fmt.Sprintf("`net user %q /active:no`", g.Name)}
		},
		fix: func(_ context.Context, c *winCtx, ch *changer) (string, error) {
			if err := ch.setGuest(false); err != nil {
				return "", err
			}
			return "guest account disabled", nil
		},
	},
}

func running(on bool) string {
	if on {
		return "running"
	}
	return "stopped"
}

func portList(ports []uint16, sep string) string {
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprint(p))
	}
	return strings.Join(s, sep)
}

// filetime converts a Windows FILETIME (100 ns since 1601) to a time.
func filetime(ft uint64) time.Time {
	const epochDiff = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	if ft < epochDiff {
		return time.Unix(0, 0)
	}
	return time.Unix(0, 0).Add(time.Duration(ft-epochDiff) * 100)
}

// firewallGaps reports, per protocol number, the high-risk ports no active
// rule blocks inbound, and the profiles whose firewall is off.
func firewallGaps(c *winCtx) (missing map[int][]uint16, off []string, ev string, err error) {
	rules, rerr := c.w.Firewall.Rules()
	missing = map[int][]uint16{}
	var blocking []string
	seen := map[string]bool{}
	for _, proto := range []int{6, 17} {
		for _, p := range c.cfg.HighRiskPorts {
			found := false
			for _, r := range rules {
				if r.blocksInbound(proto, p) {
					found = true
					if !seen[r.Store+"/"+r.ID] {
						seen[r.Store+"/"+r.ID] = true
						blocking = append(blocking, fmt.Sprintf("%q (%s)", r.Name, r.Store))
					}
					break
				}
			}
			if !found {
				missing[proto] = append(missing[proto], p)
			}
		}
	}
	for _, p := range fwProfiles {
		pol, pok, err := dword(c.w.Registry, keyFwPolicy+`\`+p[0], "EnableFirewall")
		if err != nil {
			return nil, nil, "", err
		}
		loc, lok, err := dword(c.w.Registry, keyFwLocal+`\`+p[1], "EnableFirewall")
		if err != nil {
			return nil, nil, "", err
		}
		// The policy value wins; with neither, the firewall is on (the
		// Windows default).
		if (pok && pol == 0) || (!pok && lok && loc == 0) {
			off = append(off, p[0])
		}
	}
	var parts []string
	if len(blocking) > 0 {
		parts = append(parts, "blocked by "+strings.Join(blocking, ", "))
	}
	for _, proto := range []int{6, 17} {
		if len(missing[proto]) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s not blocked inbound", map[int]string{6: "TCP", 17: "UDP"}[proto], portList(missing[proto], ",")))
		}
	}
	if len(off) > 0 {
		parts = append(parts, "firewall off: "+strings.Join(off, ", "))
	}
	if len(missing[6]) == 0 && len(missing[17]) == 0 && len(off) == 0 {
		parts = append(parts, "every high-risk port is blocked inbound on every profile")
	}
	ev = strings.Join(parts, "; ")
	if rerr != nil {
		// Rules that could not be read may block ports: say so, but
		// still report what was seen.
		return missing, off, ev + "; ", rerr
	}
	return missing, off, ev, nil
}

// defenderOff lists (as key!name) the values that turn real-time
// protection off.
func defenderOff(reg Registry) (off []string, ev string, err error) {
	var parts []string
	for _, v := range [][2]string{{keyDefenderPol, valDisableAS}, {keyDefenderPolRTP, valDisableRTM}, {keyDefenderRTP, valDisableRTM}} {
		n, ok, err := dword(reg, v[0], v[1])
		if err != nil {
			return nil, "", err
		}
		if ok {
			parts = append(parts, fmt.Sprintf(`HKLM\%s\%s=%d`, v[0], v[1], n))
		}
		if ok && n != 0 {
			off = append(off, v[0]+"!"+v[1])
		}
	}
	if len(parts) == 0 {
		return nil, "no value turns real-time protection off (" + valDisableRTM + " absent)", nil
	}
	return off, strings.Join(parts, ", "), nil
}
