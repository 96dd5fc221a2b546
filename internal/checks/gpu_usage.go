package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/gpu"
	"github.com/minerguard/minerguard/internal/intel"
)

// GPU load thresholds. Like CPU load, GPU load alone is weak evidence
// (training, rendering and inference are busy too), so it is reported at
// low and the verdict engine raises it only beside identity or network
// evidence.
const (
	gpuBusyUtil   = 50      // SM utilisation percent
	gpuBusyMemory = 1 << 30 // bytes of GPU memory held
)

func init() {
	registerFunc(Info{
		ID:          "gpu.usage",
		Title:       "Processes keeping an NVIDIA GPU busy",
		Description: "Reads per-process GPU memory and SM utilisation through NVML (libnvidia-ml, loaded at run time) and tells machine-learning jobs from unexplained GPU load.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkGPU)
}

// gpuQuery is gpu.Query; tests replace it to play a driver.
var gpuQuery = gpu.Query

// gpuDecision is what one process's GPU use amounts to.
type gpuDecision struct {
	Rule      string
	Severity  findings.Severity
	Framework string
}

// decideGPU classifies one process's GPU use from the files it maps: an ML
// framework explains the load (info), other heavy use is a weak resource
// signal (low), light use is nothing. Known miner names and flags are
// left to the process.name and cmdline checks, whose identity findings
// the engine combines with this one.
func decideGPU(db *intel.DB, mapped []string, u gpu.Usage) (gpuDecision, bool) {
	if fw, ok := db.Framework(mapped); ok {
		return gpuDecision{Rule: "gpu.ml_job", Severity: findings.Info, Framework: fw}, true
	}
	if u.Util >= gpuBusyUtil || u.MemoryBytes >= gpuBusyMemory {
		return gpuDecision{Rule: "gpu.busy", Severity: findings.Low}, true
	}
	return gpuDecision{}, false
}

func checkGPU(_ context.Context, env *Env) ([]findings.Finding, error) {
	drv := gpu.DetectDriver(env.Host)
	devs, err := gpuQuery()
	if errors.Is(err, gpu.ErrNoDriver) {
		reason := err.Error()
		var nd *gpu.NoDriverError
		if errors.As(err, &nd) {
			reason = nd.Reason
		}
		return []findings.Finding{gpuUnavailable(drv, err)}, Skipped("no usable NVIDIA driver (" + reason + ")")
	}
	if err != nil {
		return nil, err
	}
	var out []findings.Finding
	for _, u := range gpu.ByProcess(devs) {
		ev := findings.Evidence{PID: u.PID}
		var mapped []string
		name := fmt.Sprintf("pid %d", u.PID)
		if p := env.Procs.Get(u.PID); p != nil {
			ev = env.ProcessEvidence(p)
			mapped, _ = p.MappedFiles()
			name = fmt.Sprintf("%s (pid %d)", Printable(p.Name(), 32), u.PID)
		}
		d, ok := decideGPU(env.Intel, mapped, u)
		if !ok {
			continue
		}
		if u.Util != gpu.Unknown {
			ev.GPUPercent = float64(u.Util)
		}
		ev.GPUMemMiB = u.MemoryBytes >> 20
		ev.GPU = strings.Join(u.Devices, "; ")
		load := gpuLoadText(u)
		f := findings.Finding{
			Rule:     d.Rule,
			Severity: d.Severity,
			Signal:   findings.SignalResource,
			Evidence: ev,
		}
		switch d.Rule {
		case "gpu.ml_job":
			ev.Details = map[string]string{"framework": d.Framework}
			f.Evidence = ev
			f.Title = fmt.Sprintf("%s runs %s on the GPU (%s)", name, d.Framework, load)
			f.Description = fmt.Sprintf("The process maps %s libraries, so its GPU use (%s) is most likely a machine-learning job.", d.Framework, load)
			f.Confidence = 0.7
		default:
			f.Title = fmt.Sprintf("%s keeps a GPU busy (%s)", name, load)
			f.Description = fmt.Sprintf("The process uses %s and maps no known machine-learning framework. GPU load alone is not proof of mining.", load)
			f.Remediation = "Check what the process is and who started it; GPU miners keep SM utilisation near 100% around the clock."
			f.Confidence = 0.35
		}
		out = append(out, f)
	}
	return out, nil
}

func gpuLoadText(u gpu.Usage) string {
	util := "utilisation unknown"
	if u.Util != gpu.Unknown {
		util = fmt.Sprintf("%d%% SM", u.Util)
	}
	return fmt.Sprintf("%s, %d MiB GPU memory", util, u.MemoryBytes>>20)
}

func gpuUnavailable(drv gpu.Driver, err error) findings.Finding {
	desc := "No NVIDIA kernel driver was found (/proc/driver/nvidia/version and /dev/nvidia* are absent), so GPU mining could not be checked."
	if drv.Present {
		desc = fmt.Sprintf("An NVIDIA driver is present (%s) but NVML could not be used (%v), so per-process GPU use could not be checked.",
			firstNonEmpty(drv.Version, strings.Join(drv.Nodes, " ")), err)
	}
	ev := findings.Evidence{Details: map[string]string{"reason": err.Error()}}
	if drv.Version != "" {
		ev.Details["driver"] = drv.Version
	}
	if len(drv.Nodes) > 0 {
		ev.Paths = drv.Nodes
	}
	return findings.Finding{
		Rule:        "gpu.unavailable",
		Severity:    findings.Info,
		Signal:      findings.SignalStatus,
		Title:       "GPU use was not checked: no usable NVIDIA driver",
		Description: desc,
		Evidence:    ev,
		Confidence:  1,
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
