//go:build race

package gate

// raceEnabled reports that the tests run under the race detector, which
// makes sync.Pool drop items at random, so allocation counts vary.
const raceEnabled = true
