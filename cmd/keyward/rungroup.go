package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// shutdownGrace is how long requests in flight get to finish once the
// process is told to stop.
const shutdownGrace = 10 * time.Second

// runGroup runs a process's HTTP servers and background loops as one unit:
// they start together, the first to fail stops all the others, and
// [runGroup.wait] returns only once every one of them has returned, so the
// caller may then close what they share (the store). It owns every
// goroutine it starts.
type runGroup struct {
	g      *errgroup.Group
	ctx    context.Context // ends when the parent ends or a member fails
	logger *slog.Logger
}

// newRunGroup returns a group whose members stop when ctx ends (SIGINT or
// SIGTERM) or when one of them fails.
func newRunGroup(ctx context.Context, logger *slog.Logger) *runGroup {
	g, gctx := errgroup.WithContext(ctx)
	return &runGroup{g: g, ctx: gctx, logger: logger}
}

// loop runs fn, a background loop that must run until its context ends. A
// loop that returns earlier, with an error or without one, is a failure: it
// is logged as loop_failed and ends the whole group.
func (r *runGroup) loop(name string, fn func(context.Context) error) {
	r.g.Go(func() error {
		err := fn(r.ctx)
		if r.ctx.Err() != nil {
			return nil // stopped as asked
		}
		if err == nil {
			err = errors.New("stopped by itself")
		}
		r.logger.Error("loop_failed", slog.String("loop", name), slog.String("error", err.Error()))
		return fmt.Errorf("%s: %w", name, err)
	})
}

// serve serves srv on ln until the group stops, then shuts srv down
// gracefully, giving requests in flight [shutdownGrace].
func (r *runGroup) serve(name string, srv *http.Server, ln net.Listener) {
	served := make(chan struct{}) // closed when Serve has returned
	r.g.Go(func() error {
		err := srv.Serve(ln)
		close(served)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		r.logger.Error("server_failed", slog.String("server", name), slog.String("error", err.Error()))
		return fmt.Errorf("serving %s: %w", name, err)
	})
	r.g.Go(func() error {
		select {
		case <-r.ctx.Done():
		case <-served:
			return nil // Serve failed: its goroutine reports it
		}
		r.logger.Info("shutting_down", slog.String("server", name))
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutting down %s: %w", name, err)
		}
		return nil
	})
}

// wait waits for every member and returns the first failure, or nil when
// they all stopped because the parent context ended.
func (r *runGroup) wait() error {
	return r.g.Wait()
}
