package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/jose"
)

// MaxFileSize bounds the key, claims and token files the commands read.
const MaxFileSize = 1 << 20

// Permissions of the files keyward writes.
const (
	// PrivateFileMode is for private keys and secrets: owner only.
	PrivateFileMode fs.FileMode = 0o600
	// PublicFileMode is for public keys and key sets.
	PublicFileMode fs.FileMode = 0o644
)

// CheckNew fails when any of paths exists and force is false, so that a
// command writing several files can refuse before it writes the first.
// Empty paths are ignored.
func CheckNew(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; choose another path or pass --force to overwrite it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// WriteFile writes data to path with mode perm. Without force the file must
// not exist: it is created with O_EXCL, so an existing file (or a symlink
// planted in its place) is never overwritten. With force the data goes to a
// temporary file in the same directory, created with perm, which then
// replaces path, so the file never exists with looser permissions or half
// written, whatever mode the old one had.
func WriteFile(path string, data []byte, perm fs.FileMode, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; choose another path or pass --force to overwrite it", path)
		}
		if err != nil {
			return err
		}
		if err := writeClose(f, data, perm); err != nil {
			os.Remove(path)
			return err
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := writeClose(f, data, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeClose sets f's mode (the umask may have narrowed it, CreateTemp
// always makes 0600), writes data, syncs and closes.
func writeClose(f *os.File, data []byte, perm fs.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadFile reads a file of at most [MaxFileSize] bytes; "-" reads stdin.
func ReadFile(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// ReadKeys reads the keys in a key file: PEM (private or public keys in
// PKCS#1, PKCS#8, SEC1 or PKIX, or X.509 certificates; every block), a JSON
// Web Key, or a JSON Web Key Set. PEM keys come back as JWKs with no
// algorithm (their type implies it) and their RFC 7638 thumbprint as key ID;
// JWKs keep their own "alg" and "kid". Errors name the file but never
// quote its contents.
func ReadKeys(path string, stdin io.Reader) ([]*jose.JWK, error) {
	data, err := ReadFile(path, stdin)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// ParseKeys is [ReadKeys] on data already read: [jose.ParseKeyFile].
func ParseKeys(data []byte) ([]*jose.JWK, error) { return jose.ParseKeyFile(data) }
