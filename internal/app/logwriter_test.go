package app

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/testutil"
)

func TestLogWriterKeepsEveryLineWhole(t *testing.T) {
	var out testutil.Buffer
	w := NewLogWriter(&out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "{\"writer\":%d,\"line\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", i%97))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers) // each writer's lines arrive in its order
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "{\"writer\":%d,\"line\":%d,\"pad\":%q}", &g, &i, &pad); err != nil || len(pad) != i%97 {
			t.Fatalf("torn or mixed line %q: %v", l, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d arrived before line %d", g, i, next[g])
		}
		next[g]++
	}
}

func TestLogWriterLineSoonAtLowLoad(t *testing.T) {
	var out testutil.Buffer
	w := NewLogWriter(&out)
	defer w.Close()
	fmt.Fprintln(w, `{"msg":"listening"}`)
	deadline := time.Now().Add(2 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if out.String() != "{\"msg\":\"listening\"}\n" {
		t.Fatalf("a lone line was not written within 2s: %q", out.String())
	}
}

// blockedOut is a log destination that takes nothing until released, like
// a stdout pipe whose reader stalled.
type blockedOut struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (b *blockedOut) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func TestLogWriterBoundedWhenOutputStalls(t *testing.T) {
	out := &blockedOut{release: make(chan struct{})}
	w := NewLogWriter(out)
	line := []byte(strings.Repeat("y", 1023) + "\n")
	// The goroutine takes what is queued when it wakes (one line, or up
	// to the bound if it wakes late) and blocks writing it; the queue then
	// fills to its bound and the next write must wait. So at most twice
	// the bound is ever held, and three times as many lines cannot all
	// be taken.
	written := make(chan int)
	go func() {
		n := 0
		for range 3 * maxPendingLog / len(line) {
			_, _ = w.Write(line)
			n++
		}
		written <- n
	}()
	select {
	case n := <-written:
		t.Fatalf("%d lines (%d bytes) queued while the output was stalled, want at most about %d bytes", n, n*len(line), 2*maxPendingLog)
	case <-time.After(300 * time.Millisecond):
	}
	w.mu.Lock()
	pending := len(w.pending)
	w.mu.Unlock()
	if pending > maxPendingLog {
		t.Errorf("%d bytes pending, bound %d", pending, maxPendingLog)
	}
	close(out.release) // the reader is back: nothing was dropped
	n := <-written
	_ = w.Close()
	if got, want := out.buf.Len(), n*len(line); got != want {
		t.Errorf("%d bytes written after the stall, want %d (no line dropped)", got, want)
	}
}

func TestLogWriterAfterClose(t *testing.T) {
	var out testutil.Buffer
	w := NewLogWriter(&out)
	fmt.Fprintln(w, "first")
	_ = w.Close()
	fmt.Fprintln(w, "late")
	if out.String() != "first\nlate\n" {
		t.Fatalf("got %q", out.String())
	}
}
