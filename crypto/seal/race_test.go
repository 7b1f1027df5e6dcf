//go:build race

package seal

// raceEnabled is true when the tests run under the race detector, which
// makes each Open about seven times slower.
const raceEnabled = true
