//go:build race

package relay

// raceEnabled: the race detector multiplies stack sizes, so memory is not
// measured under it.
const raceEnabled = true
