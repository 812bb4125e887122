package app

import (
	"io"
	"sync"
)

// maxPendingLog bounds the log lines waiting to be written (and so the
// memory held to twice it, with the batch being written). Past it a
// request waits, as it would on a plain write: lines are never dropped,
// the audit record among them.
const maxPendingLog = 256 << 10

// LogWriter writes the container's log lines from one goroutine, so a
// request appends its line to memory instead of making a write(2) of its
// own: under load, the lines that arrive during one write go out together
// in the next. At low load a line is written as soon as the goroutine
// wakes, microseconds later. Close writes what is left.
//
// Lambda does not use it: a function's process is frozen between
// invocations, and its lines must be out before it returns.
type LogWriter struct {
	out io.Writer

	mu      sync.Mutex
	pending []byte
	closed  bool
	wake    *sync.Cond // the writer goroutine: lines pending, or closed
	space   *sync.Cond // a request waiting for pending to shrink
	done    chan struct{}
}

// NewLogWriter starts the goroutine that writes to out.
func NewLogWriter(out io.Writer) *LogWriter {
	w := &LogWriter{out: out, done: make(chan struct{})}
	w.wake, w.space = sync.NewCond(&w.mu), sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write queues p, one whole log line from slog's handler.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.pending) > 0 && len(w.pending)+len(p) > maxPendingLog && !w.closed {
		w.space.Wait()
	}
	if !w.closed {
		w.pending = append(w.pending, p...)
		w.wake.Signal()
		w.mu.Unlock()
		return len(p), nil
	}
	w.mu.Unlock()
	<-w.done // a line after Close, e.g. at exit: after the last batch
	return w.out.Write(p)
}

func (w *LogWriter) run() {
	defer close(w.done)
	var batch []byte
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && !w.closed {
			w.wake.Wait()
		}
		if len(w.pending) == 0 {
			w.mu.Unlock()
			return
		}
		batch, w.pending = w.pending, batch[:0]
		w.space.Broadcast()
		w.mu.Unlock()
		// A failed write loses these lines, as it would have without the
		// queue: there is nowhere else to log that logging failed.
		_, _ = w.out.Write(batch)
	}
}

// Close writes the lines still pending and stops the goroutine; later
// lines are written directly.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	w.closed = true
	w.wake.Signal()
	w.space.Broadcast()
	w.mu.Unlock()
	<-w.done
	return nil
}
