package interop_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// buildDir holds the keyward binary built for this test run; TestMain
// removes it.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// touchSources opens, once per test binary, every source file of the module and of the Node
// project. The tests run programs built from those files (keyward, the
// Node scripts), which the go command cannot see; opening them here makes
// `go test` record them, so that a cached result is reused only while none
// of them has changed.
var touchSources = sync.OnceFunc(func() {
	filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".js", ".json", ".md", ".mod", ".sum", ".sql":
			if f, err := os.Open(path); err == nil {
				f.Close()
			}
		}
		return nil
	})
})

// buildOnce builds ./cmd/keyward once per test binary, so that every test
// drives the program as it is in this checkout.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "keyward-interop-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "keyward")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyward")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward: %v\n%s", err, out)
	}
	return bin, nil
})

// keywardBinary returns the path of a freshly built keyward binary.
func keywardBinary(t *testing.T) string {
	t.Helper()
	touchSources()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
