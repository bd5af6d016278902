//go:build !unix

package pgtest

// startWatchdog does nothing here: a cluster outlives a test binary that
// ends without [Main].
func (s *Server) startWatchdog() error { return nil }
