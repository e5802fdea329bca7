//go:build race

package room

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation budgets are not checked under -race.
const raceEnabled = true
