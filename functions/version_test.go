//go:build unix

package functions_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// `sam build` runs `make build-<LogicalId>` in a copy of the source tree
// without .git, where the Makefile's git describe finds nothing: the
// deployed function reported "dev". With VERSION in the environment (CI
// sets it), the function reports it. The copy is built for the host so
// the bootstrap runs under aws-lambda-rie here.
func TestSAMBuildWithoutGitReportsVERSION(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the build of a function in a copy of the tree")
	}
	bins, err := build() // the emulator
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	src := copyTree(t, "..")
	if _, err := os.Stat(filepath.Join(src, ".git")); err == nil {
		t.Fatal("the copy has .git")
	}
	artifacts := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "build-InfoFunction", "ARTIFACTS_DIR="+artifacts, "LAMBDA_GOARCH="+runtime.GOARCH)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "VERSION=abc123")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-InfoFunction: %v\n%s", err, out)
	}
	emu := runEmulator(t, bins["rie"], filepath.Join(artifacts, "bootstrap"), "InfoFunction", localEnv(t, "InfoFunction"))
	resp := emu.invokeFile(t, filepath.Join(localEventsDir, "rest-get-index.json"), "", "")
	var index struct{ Version string }
	if err := json.Unmarshal([]byte(resp.Body), &index); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET / = %d %s (%v)\n%s", resp.StatusCode, resp.Body, err, emu.output)
	}
	if index.Version != "abc123" {
		t.Errorf("GET / version = %q, want abc123 (VERSION from the environment)", index.Version)
	}
}

// copyTree copies the module at root, as `sam build` copies CodeUri: every
// file but .git and build output.
func copyTree(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "dist", ".aws-sam", "node_modules":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == ".git" || strings.HasPrefix(rel, ".git"+string(filepath.Separator)) || !d.Type().IsRegular() {
			return nil // a worktree's .git is a file
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
