package harden_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/cli"
	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

// weakRoot is a server as the seeds find it: root logins and passwords
// over SSH (one of them from a cloud-init drop-in, which overrides the
// main file), short passwords, an account without a password, telnet
// enabled, four weeks of logs.
var weakRoot = map[string]string{
	"etc/machine-id":                            "0123456789abcdef0123456789abcdef\n",
	"etc/hostname":                              "lab-srv3\n",
	"etc/systemd/journald.conf":                 "[Journal]\n#Storage=auto\n#Compress=yes\n",
	"etc/systemd/journald.conf.d/10-short.conf": "[Journal]\nMaxRetentionSec=2week\n",
	"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n#MaxAuthTries 6\nUsePAM yes\n" +
		"Match User backup\n\tPasswordAuthentication yes\n",
	"etc/ssh/sshd_config.d/50-cloud-init.conf":              "PasswordAuthentication yes\n",
	"root/.ssh/authorized_keys":                             "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop\n",
	"etc/security/pwquality.conf":                           "# Configuration for systemwide password quality limits\n# minlen = 8\nminlen = 8\n",
	"etc/pam.d/common-password":                             "password\trequisite\t\t\tpam_pwquality.so retry=3\npassword\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt\n",
	"etc/passwd":                                            "root:x:0:0:root:/root:/bin/bash\nguest:x:1001:1001::/home/guest:/bin/bash\nsysupd:x:0:0::/root:/bin/bash\n",
	"etc/shadow":                                            "root:$6$abc$def:19000:0:99999:7:::\nguest::19000:0:99999:7:::\nsysupd:$6$mno$pqr:19700:0:99999:7:::\n",
	"etc/logrotate.conf":                                    "weekly\nrotate 4\ncreate\ninclude /etc/logrotate.d\n",
	"etc/logrotate.d/rsyslog":                               "/var/log/syslog\n/var/log/auth.log\n{\n\trotate 4\n\tweekly\n\tmissingok\n\tcompress\n}\n",
	"etc/systemd/system/sockets.target.wants/telnet.socket": "->/lib/systemd/system/telnet.socket",
	"lib/systemd/system/telnet.socket":                      "[Socket]\nListenStream=23\nAccept=yes\n",
	"etc/apt/apt.conf.d/20auto-upgrades":                    "APT::Periodic::Update-Package-Lists \"1\";\n",
	"usr/bin/unattended-upgrade":                            "#!/usr/bin/python3\n",
}

func runCLI(args ...string) (string, int) {
	var out bytes.Buffer
	code := cli.Main(args, &out, &out)
	return out.String(), code
}

// TestHardenApplyRollback: --apply fixes every item it can on an offline
// root (the audit then passes them), and --rollback gives back a tree
// identical in content, modes, owners, mtimes and xattrs.
func TestHardenApplyRollback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (owners and times of the fixture)")
	}
	root, state := t.TempDir(), t.TempDir()
	fstree.Write(t, root, weakRoot, 0)
	os.Chmod(filepath.Join(root, "etc/shadow"), 0o640)
	before := fstree.Snapshot(t, root)

	out, code := runCLI("harden", "--root", root, "--state-dir", state, "--apply", "--yes")
	if code != 0 {
		t.Fatalf("harden --apply: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "failed") {
		t.Fatalf("an action failed:\n%s", out)
	}
	audit, _ := runCLI("harden", "--root", root, "--format", "json")
	for _, id := range []string{"ssh.root_login", "ssh.password_auth", "ssh.max_auth_tries", "password.min_length", "accounts.empty_password", "remote.services", "logs.retention", "logs.journald", "accounts.shared", "updates.automatic"} {
		if !strings.Contains(audit, `"id": "`+id+`",`) {
			t.Fatalf("item %s missing from audit", id)
		}
		i := strings.Index(audit, `"id": "`+id+`",`)
		if seg := audit[i:min(len(audit), i+300)]; !strings.Contains(seg, `"status": "pass"`) {
			t.Errorf("after --apply, %s does not pass:\n%s", id, seg)
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(root, p)); return string(b) }
	if got := read("etc/ssh/sshd_config.d/50-cloud-init.conf"); got != "PasswordAuthentication no\n" {
		t.Errorf("cloud-init drop-in = %q", got)
	}
	cfg := read("etc/ssh/sshd_config")
	if !strings.HasPrefix(cfg, "# minerguard harden\nKbdInteractiveAuthentication no\n# minerguard harden\nMaxAuthTries 3\n") {
		t.Errorf("new directives not at the top (before Match):\n%s", cfg)
	}
	if !strings.Contains(cfg, "PermitRootLogin prohibit-password\n") || !strings.HasSuffix(cfg, "Match User backup\n\tPasswordAuthentication yes\n") {
		t.Errorf("sshd_config:\n%s", cfg)
	}
	if got := read("etc/shadow"); !strings.Contains(got, "guest:!:19000") || !strings.Contains(got, "root:$6$abc$def:") || !strings.Contains(got, "sysupd:!$6$mno$pqr:") {
		t.Errorf("shadow:\n%s", got)
	}
	if got := read("etc/logrotate.d/rsyslog"); !strings.Contains(got, "\trotate 26\n") {
		t.Errorf("logrotate:\n%s", got)
	}
	if got := read("etc/systemd/journald.conf.d/10-short.conf"); got != "[Journal]\nMaxRetentionSec=180day\n" {
		t.Errorf("journald drop-in: %q", got)
	}
	if got := read("etc/systemd/journald.conf"); !strings.HasSuffix(got, "[Journal]\nStorage=persistent\n") {
		t.Errorf("journald.conf: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/sockets.target.wants/telnet.socket")); err == nil {
		t.Error("telnet.socket still enabled")
	}

	out, code = runCLI("harden", "--root", root, "--state-dir", state, "--rollback")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	if d := fstree.Diff(before, fstree.Snapshot(t, root)); len(d) > 0 {
		t.Fatalf("rollback did not restore the tree:\n%s", strings.Join(d, "\n"))
	}
}

// TestHardenNoKeyNoPasswordLockout: with no SSH key anywhere, --apply
// leaves password logins on (and says why) instead of locking everyone out.
func TestHardenNoKeyNoPasswordLockout(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	tree := map[string]string{}
	for k, v := range weakRoot {
		if k != "root/.ssh/authorized_keys" {
			tree[k] = v
		}
	}
	fstree.Write(t, root, tree, 0)
	out, _ := runCLI("harden", "--root", root, "--state-dir", t.TempDir(), "--apply", "--yes", "--only", "ssh.password_auth")
	if !strings.Contains(out, "no account has an SSH key") {
		t.Errorf("no lockout warning:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/ssh/sshd_config.d/50-cloud-init.conf")); string(b) != "PasswordAuthentication yes\n" {
		t.Errorf("passwords turned off with no key present: %q", b)
	}
}
