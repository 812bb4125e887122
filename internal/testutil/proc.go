package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ChildPIDs lists the children of pid, from /proc (Linux); elsewhere none.
func ChildPIDs(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var children []int
	for _, path := range stats {
		b, err := os.ReadFile(path) // #nosec G304 -- /proc/<pid>/stat from a glob
		if err != nil {
			continue // the process has gone
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
		// so the fields are counted from the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil || ppid != pid {
			continue
		}
		if child, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			children = append(children, child)
		}
	}
	return children
}
