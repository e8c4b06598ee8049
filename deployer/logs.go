package deployer

import (
	"bytes"
	"context"
	"io"
	"sync"
)

// logBuf is a build log: it keeps the last max bytes written, and readers
// can follow it until it is closed.
type logBuf struct {
	mu      sync.Mutex
	buf     []byte
	dropped int64 // bytes dropped from the front
	max     int
	closed  bool
	changed chan struct{} // closed and replaced on every write and on close
}

func newLogBuf(max int) *logBuf {
	return &logBuf{max: max, changed: make(chan struct{})}
}

const droppedNote = "[... earlier output dropped ...]\n"

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - l.max; over > 0 {
		// Drop at least a quarter, so that trimming is amortized.
		if q := l.max / 4; over < q {
			over = q
		}
		if over > len(l.buf) {
			over = len(l.buf)
		}
		l.buf = append(l.buf[:0], l.buf[over:]...)
		l.dropped += int64(over)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logBuf) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.changed)
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		return droppedNote + string(l.buf)
	}
	return string(l.buf)
}

// copyTo writes the log to w; with follow, it keeps writing what comes
// until the log is closed or ctx is done.
func (l *logBuf) copyTo(ctx context.Context, w io.Writer, follow bool) error {
	var off int64 // absolute offset written so far
	first := true
	for {
		l.mu.Lock()
		start := off - l.dropped
		var chunk []byte
		if first && l.dropped > 0 {
			chunk = append(chunk, droppedNote...)
		}
		if start < 0 {
			start = 0
		}
		chunk = append(chunk, l.buf[start:]...)
		off = l.dropped + int64(len(l.buf))
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		first = false
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			flush(w)
		}
		if !follow || closed {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// tailWriter keeps the last max bytes written to buf.
type tailWriter struct {
	buf *bytes.Buffer
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		b := append([]byte(nil), t.buf.Bytes()[over:]...)
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}
