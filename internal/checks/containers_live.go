package checks

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/process"
)

func init() {
	registerFunc(Info{
		ID:          "containers.processes",
		Title:       "Processes running in containers",
		Description: "Attributes each process to its container (Docker, Podman, containerd, CRI-O, Kubernetes, LXC) from /proc/PID/cgroup and reports how many run in containers; other checks name the container in their evidence.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkContainerProcesses)
}

// maxListedContainers bounds the container list in the summary's evidence.
const maxListedContainers = 50

func checkContainerProcesses(_ context.Context, env *Env) ([]findings.Finding, error) {
	type ctr struct {
		runtime string
		procs   int
	}
	byID := map[string]*ctr{}
	total := 0
	for _, p := range env.UserProcesses() {
		c, ok := process.ContainerInfo(p)
		if !ok {
			continue
		}
		total++
		if byID[c.ID] == nil {
			byID[c.ID] = &ctr{runtime: c.Runtime}
		}
		byID[c.ID].procs++
	}
	if total == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(byID))
	runtimes := map[string]int{}
	for id, c := range byID {
		ids = append(ids, id)
		runtimes[c.runtime]++
	}
	// Busiest containers first, so a truncated list keeps the interesting ones.
	sort.Slice(ids, func(i, j int) bool {
		a, b := byID[ids[i]], byID[ids[j]]
		if a.procs != b.procs {
			return a.procs > b.procs
		}
		return ids[i] < ids[j]
	})
	var match []string
	for i, id := range ids {
		if i == maxListedContainers {
			match = append(match, fmt.Sprintf("… %d more", len(ids)-i))
			break
		}
		match = append(match, fmt.Sprintf("%s %s: %d", byID[id].runtime, shortID(id), byID[id].procs))
	}
	details := map[string]string{"processes": strconv.Itoa(total), "containers": strconv.Itoa(len(ids))}
	for rt, n := range runtimes {
		details["runtime."+rt] = strconv.Itoa(n)
	}
	return []findings.Finding{{
		Rule: "containers.processes.summary", Severity: findings.Info, Signal: findings.SignalStatus, Confidence: 1,
		Title:       fmt.Sprintf("%d processes run in %d containers", total, len(ids)),
		Description: "These processes belong to containers (from their cgroups). A miner in a container uses the host's CPU like any other; findings about them name the container, whose image and start command containers.config judges.",
		Evidence:    findings.Evidence{Match: match, Details: details},
	}}, nil
}
