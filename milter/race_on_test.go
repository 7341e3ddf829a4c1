//go:build race

package milter

// raceEnabled tells memory tests that the race detector is on: it keeps
// shadow memory for every allocation, so resident sizes measured under it
// say nothing about the daemon's own.
const raceEnabled = true
