//go:build !race

package gate

// raceEnabled reports that the tests run under the race detector.
const raceEnabled = false
