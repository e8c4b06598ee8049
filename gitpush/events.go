package gitpush

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
)

// events fans PushEvents out to subscribers. Each subscriber has its own
// queue drained by at most one goroutine at a time, so it sees events in
// emission order and never blocks the emitter.
type events struct {
	log    *slog.Logger
	mu     sync.Mutex
	subs   []*subscriber
	closed bool
	wg     sync.WaitGroup // running drains
}

type subscriber struct {
	ctx     context.Context
	fn      func(context.Context, PushEvent)
	queue   []PushEvent
	running bool
}

func (e *events) subscribe(ctx context.Context, fn func(context.Context, PushEvent)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, &subscriber{ctx: ctx, fn: fn})
}

func (e *events) emit(ev PushEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	for _, s := range e.subs {
		s.queue = append(s.queue, ev)
		if !s.running {
			s.running = true
			e.wg.Add(1)
			go e.drain(s)
		}
	}
}

func (e *events) drain(s *subscriber) {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		if len(s.queue) == 0 {
			s.running = false
			e.mu.Unlock()
			return
		}
		ev := s.queue[0]
		s.queue[0] = PushEvent{}
		s.queue = s.queue[1:]
		e.mu.Unlock()
		e.call(s, ev)
	}
}

func (e *events) call(s *subscriber, ev PushEvent) {
	defer func() {
		if v := recover(); v != nil {
			e.log.Error("gitpush: push subscriber panicked", "project", ev.Project, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	s.fn(s.ctx, ev)
}

// close stops new events and waits for the queued ones to be handled.
func (e *events) close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
