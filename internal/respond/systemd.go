package respond

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"
)

// Systemd is what a clean needs from a running systemd: a unit whose file
// was quarantined is still loaded, and with Restart=always it would start
// its command again the moment the kill lands.
type Systemd interface {
	// Stop queues a stop job for the units without waiting for it (their
	// processes are frozen and would hold a blocking stop for 90 s).
	Stop(ctx context.Context, units []string) error
	// Reload makes systemd forget removed unit files (daemon-reload).
	Reload(ctx context.Context) error
	// Start starts units again (undo of stop_units).
	Start(ctx context.Context, units []string) error
	// ReloadUnits makes running units re-read their configuration.
	ReloadUnits(ctx context.Context, units []string) error
}

// systemctl drives systemd through its own client. Its path is fixed, not
// looked up in PATH, which malware may have changed.
type systemctl struct{ path string }

func (s systemctl) run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.path, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "SYSTEMD_PAGER=cat"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s systemctl) Stop(ctx context.Context, units []string) error {
	return s.run(ctx, append([]string{"stop", "--no-block", "--"}, units...)...)
}

func (s systemctl) Reload(ctx context.Context) error { return s.run(ctx, "daemon-reload") }

func (s systemctl) ReloadUnits(ctx context.Context, units []string) error {
	return s.run(ctx, append([]string{"try-reload-or-restart", "--"}, units...)...)
}

func (s systemctl) Start(ctx context.Context, units []string) error {
	return s.run(ctx, append([]string{"start", "--no-block", "--"}, units...)...)
}

// liveSystemd returns systemd's client on a live host booted with systemd
// (the directory sd_booted checks), or nil.
func liveSystemd() Systemd {
	if st, err := os.Stat("/run/systemd/system"); err != nil || !st.IsDir() {
		return nil
	}
	for _, p := range []string{"/usr/bin/systemctl", "/bin/systemctl"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return systemctl{path: p}
		}
	}
	return nil
}

// planUnits lists the systemd units whose files the plan quarantines.
func planUnits(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Kind != KindQuarantine {
			continue
		}
		if strings.Contains(a.Path, "/systemd/") && unitName(path.Base(a.Path)) {
			out = addUnique(out, path.Base(a.Path))
		}
	}
	return out
}
