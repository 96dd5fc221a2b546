package gpu

import "regexp"

// computeNode matches the device nodes a process opens to compute on a GPU
// or accelerator: NVIDIA's per-GPU nodes, AMD's ROCm kernel driver and the
// kernel's compute-accelerator class. Display nodes (/dev/dri/card*) are
// left out: every desktop session holds them.
var computeNode = regexp.MustCompile(`^/dev/(nvidia[0-9]+|kfd|accel/accel[0-9]+|dri/renderD[0-9]+)$`)

// ComputeNodes returns the GPU compute device nodes among fd link targets,
// without duplicates.
func ComputeNodes(links []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range links {
		if computeNode.MatchString(l) && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}
