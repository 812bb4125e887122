package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// LinkedSources lists the non-test Go files of this module that the given
// packages link (themselves and every dependency inside the module), as
// `go list -deps` sees them from root. Tests use it to ask what a binary
// really contains: the variables the Lambda functions read, the AWS
// services the container calls.
func LinkedSources(root string, pkgs ...string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}"}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	module, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	var files []string
	for dir := range strings.FieldsSeq(string(out)) {
		if !strings.HasPrefix(dir, module+string(filepath.Separator)) {
			continue // other modules: not ours
		}
		matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, path := range matches {
			if !strings.HasSuffix(path, "_test.go") {
				files = append(files, path)
			}
		}
	}
	return files, nil
}
