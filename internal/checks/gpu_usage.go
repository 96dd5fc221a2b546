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
		Description: "Finds processes holding GPU compute devices (/proc/PID/fd) and, in builds with -tags nvml, reads per-process GPU memory and SM utilisation through NVML; tells machine-learning jobs from unexplained GPU use.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkGPU)
}

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
	query := env.GPU
	if query == nil {
		query = gpu.Query
	}
	devs, err := query()
	if errors.Is(err, gpu.ErrNoDriver) {
		reason := err.Error()
		var nd *gpu.NoDriverError
		if errors.As(err, &nd) {
			reason = nd.Reason
		}
		holders := gpuHolders(env)
		if !drv.Present && len(holders) == 0 {
			return []findings.Finding{gpuUnavailable(drv, err)}, Skipped("no usable NVIDIA driver (" + reason + ")")
		}
		return append(holders, gpuUnavailable(drv, err)), nil
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

// gpuHolders reports processes that hold a GPU compute device open, for
// hosts where NVML cannot say how busy they are: an ML framework explains
// it (info); anything else is a weak resource hint (low) that the verdict
// engine weighs beside identity and network evidence.
func gpuHolders(env *Env) []findings.Finding {
	if !hasComputeNodes(env) {
		// No device to hold: spare reading every process's fd table.
		return nil
	}
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		links, _ := p.FDLinks()
		nodes := gpu.ComputeNodes(links)
		if len(nodes) == 0 {
			continue
		}
		mapped, _ := p.MappedFiles()
		ev := env.ProcessEvidence(p)
		ev.Paths = nodes
		ev.GPU = strings.Join(nodes, " ")
		name := fmt.Sprintf("%s (pid %d)", Printable(p.Name(), 32), p.PID)
		f := findings.Finding{Rule: "gpu.holder", Severity: findings.Low, Signal: findings.SignalResource, Evidence: ev, Confidence: 0.25,
			Title:       fmt.Sprintf("%s holds GPU compute device %s", name, strings.Join(nodes, ", ")),
			Description: "The process has a GPU compute device open; how busy it keeps the GPU is unknown without NVML. It maps no known machine-learning framework.",
			Remediation: "Check what the process is and who started it; run a build with -tags nvml (or nvidia-smi from a trusted medium) for utilisation."}
		if fw, ok := env.Intel.Framework(mapped); ok {
			f.Rule, f.Severity, f.Confidence = "gpu.ml_job", findings.Info, 0.6
			f.Evidence.Details = map[string]string{"framework": fw}
			f.Title = fmt.Sprintf("%s runs %s on GPU device %s", name, fw, strings.Join(nodes, ", "))
			f.Description = fmt.Sprintf("The process maps %s libraries, so its GPU use is most likely a machine-learning job.", fw)
			f.Remediation = ""
		}
		out = append(out, f)
	}
	return out
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

// hasComputeNodes reports whether the host has any GPU compute device node.
func hasComputeNodes(env *Env) bool {
	fsys := env.Host.FS()
	var names []string
	for _, dir := range []string{"/dev", "/dev/dri", "/dev/accel"} {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			names = append(names, dir+"/"+e.Name())
		}
	}
	return len(gpu.ComputeNodes(names)) > 0
}
