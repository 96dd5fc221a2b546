package respond

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/minerguard/minerguard/internal/atomicfile"
)

// The vault keeps quarantined files and backups. Blobs are stored
// scrambled (XOR with a fixed key behind a header), as antivirus quarantines
// do: a quarantined miner must not run from the vault, even if someone
// chmods it or hands it to an interpreter, and must not be found again by
// the next scan of the vault's disk.
var (
	vaultMagic = []byte("MINERGUARD-VAULT-1\n")
	vaultKey   = []byte("minerguard quarantine: do not execute")
)

func scramble(b []byte, off int64) {
	for i := range b {
		b[i] ^= vaultKey[(off+int64(i))%int64(len(vaultKey))]
	}
}

// Vault is the directory of one response run: journal, blobs, evidence.
type Vault struct {
	Dir string
}

func (v *Vault) blobPath(sha string) string { return filepath.Join(v.Dir, "blobs", sha) }

// ensureDir makes a 0700 directory (the vault holds miners and secrets
// such as /etc/shadow copies).
func ensureDir(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	return os.Chmod(d, 0o700)
}

// StoreFile copies the regular file at real into the vault and returns its
// sha256 and size. The blob is fsynced before this returns, so a journal
// record naming it may be written next.
func (v *Vault) StoreFile(real string) (sha string, size int64, err error) {
	f, err := openNoFollow(real)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return v.StoreReader(f)
}

// StoreReader stores a stream as a blob.
func (v *Vault) StoreReader(r io.Reader) (sha string, size int64, err error) {
	dir := filepath.Join(v.Dir, "blobs")
	if err := ensureDir(dir); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(dir, ".in-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(vaultMagic); err != nil {
		return "", 0, err
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	w := bufio.NewWriterSize(tmp, 256<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			scramble(buf[:n], size)
			if _, err = w.Write(buf[:n]); err != nil {
				return "", 0, err
			}
			size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", 0, rerr
		}
	}
	if err = w.Flush(); err != nil {
		return "", 0, err
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err = tmp.Close(); err != nil {
		return "", 0, err
	}
	sha = hex.EncodeToString(h.Sum(nil))
	if err = os.Rename(tmp.Name(), v.blobPath(sha)); err != nil {
		return "", 0, err
	}
	if err = atomicfile.SyncDir(dir); err != nil && !errors.Is(err, ErrUnsupported) {
		return "", 0, err
	}
	return sha, size, nil
}

// StoreBytes stores b as a blob.
func (v *Vault) StoreBytes(b []byte) (string, error) {
	sha, _, err := v.StoreReader(bytes.NewReader(b))
	return sha, err
}

// Load returns a blob's original bytes, checked against its name.
func (v *Vault) Load(sha string) ([]byte, error) {
	b, err := os.ReadFile(v.blobPath(sha))
	if err != nil {
		return nil, fmt.Errorf("vault blob %s: %w", sha, err)
	}
	if !bytes.HasPrefix(b, vaultMagic) {
		return nil, fmt.Errorf("vault blob %s: not a vault file", sha)
	}
	b = b[len(vaultMagic):]
	scramble(b, 0)
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("vault blob %s: content does not match its hash (damaged vault)", sha)
	}
	return b, nil
}

// openNoFollow opens a regular file without following a final symlink
// and without blocking on a FIFO.
func openNoFollow(real string) (*os.File, error) {
	f, err := os.OpenFile(real, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", real)
	}
	return f, nil
}
