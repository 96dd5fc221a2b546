package harden

import (
	"fmt"
	"io"
	"strings"

	"github.com/minerguard/minerguard/internal/intel"
)

// psQuote makes s a single-quoted PowerShell literal. PowerShell also
// ends single-quoted strings at the typographic quotes U+2018..U+201B,
// so those are doubled like '. Control characters are refused: nothing
// minerguard writes needs them and a newline would end the statement.
func psQuote(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return "", fmt.Errorf("PowerShell literal %q: control character %U", s, r)
		case r == '\'' || (r >= '\u2018' && r <= '\u201b'):
			b.WriteRune(r)
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// psPrelude is the fixed part of the script: the journal and the helpers
// each change goes through, and the rollback that reads the journal.
const psPrelude = `[CmdletBinding()]
param(
    [switch]$Rollback,
    [string]$Journal = (Join-Path $env:ProgramData 'minerguard\harden-ps-journal.json')
)
Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# Every change is journaled (previous value, or that there was none)
# before it is made; -Rollback restores the journal newest first.
$script:Steps = New-Object System.Collections.ArrayList

function Read-Journal {
    if (-not (Test-Path -LiteralPath $Journal)) { return @() }
    # ForEach-Object unrolls the array Windows PowerShell 5.1 returns whole.
    return @(ConvertFrom-Json -InputObject (Get-Content -Raw -LiteralPath $Journal) | ForEach-Object { $_ })
}

function Save-Step([hashtable]$Step) {
    [void]$script:Steps.Add($Step)
    $dir = Split-Path -Parent $Journal
    if (-not (Test-Path -LiteralPath $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
    ConvertTo-Json -InputObject @($script:Steps) -Depth 4 | Set-Content -LiteralPath $Journal -Encoding UTF8
}

function Get-MissingKey([string]$Path) {
    $missing = $null
    $p = $Path
    while ($p -and -not (Test-Path -LiteralPath $p)) { $missing = $p; $p = Split-Path -Parent $p }
    return $missing
}

function Get-RegStep([string]$Path, [string]$Name) {
    $step = @{ kind = 'registry'; path = $Path; name = $Name; existed = $false; value = $null; type = $null; createdKey = (Get-MissingKey $Path) }
    if ($null -eq $step.createdKey) {
        $key = Get-Item -LiteralPath $Path
        if ($key.GetValueNames() -contains $Name) {
            $step.existed = $true
            $step.value = $key.GetValue($Name, $null, 'DoNotExpandEnvironmentNames')
            $step.type = $key.GetValueKind($Name).ToString()
        }
    }
    return $step
}

function Set-RegDword([string]$Path, [string]$Name, [int]$Value) {
    $step = Get-RegStep $Path $Name
    if ($step.existed -and $step.type -eq 'DWord' -and $step.value -eq $Value) { return }
    Save-Step $step
    if ($null -ne $step.createdKey) { New-Item -Path $Path -Force | Out-Null }
    Set-ItemProperty -LiteralPath $Path -Name $Name -Value $Value -Type DWord
}

function Set-RegDwordIfPresent([string]$Path, [string]$Name, [int]$Value) {
    if ((Get-RegStep $Path $Name).existed) { Set-RegDword $Path $Name $Value }
}

function Remove-RegValue([string]$Path, [string]$Name) {
    $step = Get-RegStep $Path $Name
    if (-not $step.existed) { return }
    Save-Step $step
    Remove-ItemProperty -LiteralPath $Path -Name $Name
}

function Remove-EmptyKeys([string]$Path, [string]$Top) {
    $p = $Path
    while ($p -and $p.Length -ge $Top.Length -and (Test-Path -LiteralPath $p)) {
        $k = Get-Item -LiteralPath $p
        if ($k.ValueCount -gt 0 -or $k.SubKeyCount -gt 0) { return }
        Remove-Item -LiteralPath $p
        $p = Split-Path -Parent $p
    }
}

function Disable-Svc([string]$Name) {
    $svc = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $svc) { return }
    if ($svc.StartType -eq 'Disabled' -and $svc.Status -eq 'Stopped') { return }
    Save-Step @{ kind = 'service'; name = $Name; startType = $svc.StartType.ToString(); running = ($svc.Status -ne 'Stopped') }
    Set-Service -Name $Name -StartupType Disabled
    if ($svc.Status -ne 'Stopped') { Stop-Service -Name $Name -Force }
}

function Add-BlockRule([string]$Name, [string]$DisplayName, [string]$Protocol, [int[]]$Ports) {
    if ($null -ne (Get-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue)) { return }
    Save-Step @{ kind = 'firewall'; name = $Name }
    New-NetFirewallRule -Name $Name -DisplayName $DisplayName -Direction Inbound -Action Block -Protocol $Protocol -LocalPort $Ports -Profile Any | Out-Null
}

function Enable-FwProfiles {
    foreach ($p in Get-NetFirewallProfile) {
        if ($p.Enabled.ToString() -eq 'True') { continue }
        Save-Step @{ kind = 'fwprofile'; name = $p.Name; enabled = $p.Enabled.ToString() }
        Set-NetFirewallProfile -Name $p.Name -Enabled True
    }
}

function Get-MinPasswordLength {
    # secedit's export names the setting the same in every language.
    $tmp = [IO.Path]::GetTempFileName()
    try {
        secedit.exe /export /cfg $tmp /areas SECURITYPOLICY | Out-Null
        $m = Select-String -LiteralPath $tmp -Pattern '^\s*MinimumPasswordLength\s*=\s*(\d+)' | Select-Object -First 1
        if ($null -eq $m) { throw "secedit /export: no MinimumPasswordLength in $tmp" }
        return [int]$m.Matches[0].Groups[1].Value
    } finally {
        Remove-Item -LiteralPath $tmp -Force -ErrorAction SilentlyContinue
    }
}

function Set-MinPasswordLength([int]$Length) {
    $prev = Get-MinPasswordLength
    if ($prev -ge $Length) { return }
    Save-Step @{ kind = 'minpwlen'; value = $prev }
    net.exe accounts "/minpwlen:$Length" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "net accounts /minpwlen:$Length failed ($LASTEXITCODE)" }
}

function Disable-Guest {
    # The guest account is found by its RID (501): its name is localised.
    $g = Get-LocalUser | Where-Object { $_.SID.Value -match '-501$' } | Select-Object -First 1
    if ($null -eq $g -or -not $g.Enabled) { return }
    Save-Step @{ kind = 'guest'; sid = $g.SID.Value; enabled = $true }
    Disable-LocalUser -SID $g.SID
}

function Enable-Realtime {
    $prev = (Get-MpPreference).DisableRealtimeMonitoring
    if (-not $prev) { return }
    Save-Step @{ kind = 'mppreference'; disableRealtimeMonitoring = $prev }
    Set-MpPreference -DisableRealtimeMonitoring $false
}

if ($Rollback) {
    $steps = Read-Journal
    if ($steps.Count -eq 0) { throw "no journal at ${Journal}: nothing to roll back" }
    for ($i = $steps.Count - 1; $i -ge 0; $i--) {
        $s = $steps[$i]
        switch ($s.kind) {
            'registry' {
                if ($s.existed) {
                    if (-not (Test-Path -LiteralPath $s.path)) { New-Item -Path $s.path -Force | Out-Null }
                    Set-ItemProperty -LiteralPath $s.path -Name $s.name -Value $s.value -Type $s.type
                } else {
                    if (Test-Path -LiteralPath $s.path) { Remove-ItemProperty -LiteralPath $s.path -Name $s.name -ErrorAction SilentlyContinue }
                    if ($null -ne $s.createdKey) { Remove-EmptyKeys $s.path $s.createdKey }
                }
            }
            'service' {
                Set-Service -Name $s.name -StartupType $s.startType
                if ($s.running) { Start-Service -Name $s.name }
            }
            'firewall' { Remove-NetFirewallRule -Name $s.name -ErrorAction SilentlyContinue }
            'fwprofile' { Set-NetFirewallProfile -Name $s.name -Enabled $s.enabled }
            'minpwlen' {
                net.exe accounts "/minpwlen:$($s.value)" | Out-Null
                if ($LASTEXITCODE -ne 0) { throw "net accounts /minpwlen:$($s.value) failed ($LASTEXITCODE)" }
            }
            'guest' { if ($s.enabled) { Enable-LocalUser -SID $s.sid } }
            'mppreference' { Set-MpPreference -DisableRealtimeMonitoring ([bool]$s.disableRealtimeMonitoring) }
            default { throw "journal step $i of unknown kind $($s.kind)" }
        }
    }
    $done = $Journal + '.' + (Get-Date -Format 'yyyyMMddTHHmmss') + '.done'
    Move-Item -LiteralPath $Journal -Destination $done
    Write-Output "rolled back $($steps.Count) changes; journal kept as $done"
    return
}

foreach ($s in Read-Journal) { [void]$script:Steps.Add($s) }
`

// psItem writes one item's apply section.
type psItem struct {
	id    string
	write func(w *strings.Builder, cfg config) error
}

func hklm(key string) string { return `HKLM:\` + key }

func psCall(w *strings.Builder, fn string, args ...string) error {
	w.WriteString(fn)
	for _, a := range args {
		q, err := psQuote(a)
		if err != nil {
			return err
		}
		w.WriteString(" " + q)
	}
	return nil
}

var psItems = []psItem{
	{"win.smb.server", func(w *strings.Builder, _ config) error {
		w.WriteString("# Opt-in: ends file and printer sharing from this host.\n")
		if err := psCall(w, "Disable-Svc", svcServer); err != nil {
			return err
		}
		w.WriteString("\n")
		return nil
	}},
	{"win.smb.autoshare", func(w *strings.Builder, _ config) error {
		for _, n := range []string{"AutoShareWks", "AutoShareServer"} {
			if err := psCall(w, "Set-RegDword", hklm(keyLanmanParams), n); err != nil {
				return err
			}
			w.WriteString(" 0\n")
		}
		return nil
	}},
	{"win.rdp", func(w *strings.Builder, _ config) error {
		if err := psCall(w, "Set-RegDword", hklm(keyTS), valDenyTS); err != nil {
			return err
		}
		w.WriteString(" 1\n")
		if err := psCall(w, "Set-RegDwordIfPresent", hklm(keyTSPolicy), valDenyTS); err != nil {
			return err
		}
		w.WriteString(" 1\n")
		return nil
	}},
	{"win.firewall.high_risk_ports", func(w *strings.Builder, cfg config) error {
		w.WriteString("Enable-FwProfiles\n")
		for _, r := range [][3]string{{fwRuleTCP, "TCP"}, {fwRuleUDP, "UDP"}} {
			if err := psCall(w, "Add-BlockRule", r[0], fwRuleName+" ("+r[1]+")", r[1]); err != nil {
				return err
			}
			w.WriteString(" @(" + portList(cfg.HighRiskPorts, ", ") + ")\n")
		}
		return nil
	}},
	{"win.defender.realtime", func(w *strings.Builder, _ config) error {
		for _, v := range [][2]string{{keyDefenderPol, valDisableAS}, {keyDefenderPolRTP, valDisableRTM}} {
			if err := psCall(w, "Remove-RegValue", hklm(v[0]), v[1]); err != nil {
				return err
			}
			w.WriteString("\n")
		}
		w.WriteString("Enable-Realtime\n")
		return nil
	}},
	{"win.defender.signatures", func(w *strings.Builder, _ config) error {
		w.WriteString("# Signatures only move forward: nothing to roll back.\nUpdate-MpSignature\n")
		return nil
	}},
	{"win.password.min_length", func(w *strings.Builder, cfg config) error {
		fmt.Fprintf(w, "Set-MinPasswordLength %d\n", cfg.MinPasswordLen)
		return nil
	}},
	{"win.accounts.guest", func(w *strings.Builder, _ config) error {
		w.WriteString("Disable-Guest\n")
		return nil
	}},
}

// WritePowerShell writes a PowerShell script that makes the selected
// Windows changes (all but the opt-in ones when only is empty), journaling
// each previous value first, with -Rollback to restore them: for admins
// who push changes through Group Policy or their own tooling.
func WritePowerShell(w io.Writer, db *intel.DB, version string, only, skip []string) error {
	cfg, err := loadConfigDB(db)
	if err != nil {
		return err
	}
	want := selector(only, skip)
	var body strings.Builder
	var ids []string
	byID := map[string]psItem{}
	for _, p := range psItems {
		byID[p.id] = p
	}
	for _, it := range Items() {
		if it.win == nil || !want(it.ID) || (it.OptIn && !named(only, it.ID)) {
			continue
		}
		p, ok := byID[it.ID]
		if !ok {
			return fmt.Errorf("%s has no PowerShell form", it.ID)
		}
		fmt.Fprintf(&body, "\n# %s: %s\n", it.ID, it.Title)
		if err := p.write(&body, cfg); err != nil {
			return fmt.Errorf("%s: %w", it.ID, err)
		}
		ids = append(ids, it.ID)
	}
	if len(ids) == 0 {
		return fmt.Errorf("no Windows item selected")
	}
	head := fmt.Sprintf(`# minerguard harden (%s): Windows hardening as a PowerShell script.
# Items: %s
# Review it, then run it elevated (Windows PowerShell 5.1 or PowerShell 7):
#   apply:    powershell.exe -ExecutionPolicy Bypass -File harden.ps1
#   rollback: powershell.exe -ExecutionPolicy Bypass -File harden.ps1 -Rollback
# Each previous value is written to -Journal before it is changed;
# -Rollback puts every one back, newest first.
`, version, strings.Join(ids, ", "))
	_, err = io.WriteString(w, head+psPrelude+body.String()+"\nWrite-Output \"done; previous values are in $Journal\"\n")
	return err
}
