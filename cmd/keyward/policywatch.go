package main

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// defaultPolicyDebounce is how long the policy file's directory must stay
// quiet after a change before the gate reads the file again: an editor's
// save (write a copy, rename it over) or a Kubernetes ConfigMap update
// (a new directory, a "..data" symlink swapped to it) is several events,
// and a script may write the file in pieces.
const defaultPolicyDebounce = 250 * time.Millisecond

// policyMaxWait is how many debounce times at most the gate waits after
// the first change of a burst before it reads the policy file, however
// busy the directory stays: another file written there more often than
// the debounce time (a log, a lease) would otherwise hold every reload
// back for as long as it is written.
const policyMaxWait = 8

// policyWatch watches the directories of the policy file: the one named
// and, when the name is a symlink, the one of the file it resolves to
// (followed when the symlink is pointed elsewhere, [policyWatch.follow]).
// Watching the directory rather than the file sees a file replaced by a
// rename (the watch of a file follows its old inode) and a symlink swapped
// beside it.
type policyWatch struct {
	w    *fsnotify.Watcher
	path string
	real string // the directory of the file path resolves to, "" when it is path's
}

// newPolicyWatch starts watching the directories of path.
func newPolicyWatch(path string) (*policyWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	pw := &policyWatch{w: w, path: path}
	if err := w.Add(filepath.Dir(path)); err != nil {
		_ = w.Close() // the error of Add is the one to report
		return nil, err
	}
	if err := pw.follow(); err != nil {
		_ = w.Close()
		return nil, err
	}
	return pw, nil
}

// follow watches the directory of the file that the policy file's name
// resolves to now, when a symlink has been pointed at a file elsewhere
// since the last call, and stops watching the one it resolved to before:
// a file written in place in its new directory is seen as one in the
// first was.
func (pw *policyWatch) follow() error {
	real, err := filepath.EvalSymlinks(pw.path)
	if err != nil {
		return nil // gone for now: the reload says so, and a new file appears in path's directory
	}
	d := filepath.Dir(real)
	if d == filepath.Dir(pw.path) {
		d = ""
	}
	if d == pw.real {
		return nil
	}
	if d != "" {
		if err := pw.w.Add(d); err != nil {
			return err
		}
	}
	if pw.real != "" {
		_ = pw.w.Remove(pw.real) // it may be gone, and its watch with it
	}
	pw.real = d
	return nil
}

// close stops the watch and its goroutine.
func (pw *policyWatch) close() error { return pw.w.Close() }

// policyHash is the hash of a policy file's content, to tell a change
// from an event that leaves the content as it was (a touch, a chmod, a
// save without edits, another file of the directory).
func policyHash(data []byte) [sha256.Size]byte { return sha256.Sum256(data) }

// run starts the loops of the sources in force and reloads the policy at
// each value of reloads (SIGHUP) and, when watch is true, after each burst
// of changes in the file's directory, once it has been quiet for the
// debounce time (or policyMaxWait debounce times after the first change of
// a burst, at most), unless the file's content is what the last reload read.
// A watch that cannot start, or that fails, logs policy_watch_failed and
// leaves SIGHUP working. When ctx ends it stops the watch and every loop,
// and waits for them.
func (gp *gatePolicy) run(ctx context.Context, reloads <-chan os.Signal, watch bool) error {
	gp.mu.Lock()
	for _, s := range gp.sources {
		s.start(ctx)
	}
	gp.mu.Unlock()
	var events <-chan fsnotify.Event
	var errs <-chan error
	var pw *policyWatch
	if watch {
		var err error
		pw, err = newPolicyWatch(gp.path)
		if err != nil {
			gp.logger.Warn("policy_watch_failed", slog.String("file", gp.path), slog.String("error", err.Error()),
				slog.String("reload", "on SIGHUP only"))
		} else {
			defer func() { _ = pw.close() }()
			events, errs = pw.w.Events, pw.w.Errors
			gp.logger.Info("policy_watching", slog.String("file", gp.path), slog.Duration("debounce", gp.debounce))
		}
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var burst time.Time // the first change not yet read, zero for none
	changed := func() {
		now := time.Now()
		if burst.IsZero() {
			burst = now
		}
		debounce.Reset(min(gp.debounce, burst.Add(policyMaxWait*gp.debounce).Sub(now)))
	}
	for {
		select {
		case <-ctx.Done():
			gp.mu.Lock()
			defer gp.mu.Unlock()
			for _, s := range gp.sources {
				s.stop()
			}
			return nil
		case <-reloads:
			_ = gp.reload(ctx, true)
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			changed()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// The watch goes on (an overflow of the kernel's queue, say):
			// read the file once it is quiet, in case a change was lost.
			gp.logger.Warn("policy_watch_failed", slog.String("file", gp.path), slog.String("error", err.Error()),
				slog.String("reload", "on SIGHUP, and on the next change seen"))
			changed()
		case <-debounce.C:
			burst = time.Time{}
			if pw != nil {
				if err := pw.follow(); err != nil {
					gp.logger.Warn("policy_watch_failed", slog.String("file", gp.path), slog.String("error", err.Error()),
						slog.String("reload", "on SIGHUP, and on the next change seen"))
				}
			}
			_ = gp.reload(ctx, false)
		}
	}
}
