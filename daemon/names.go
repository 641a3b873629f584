package daemon

import (
	"fmt"
	"math/rand/v2"
)

// Random names have Docker's shape, adjective_surname, from Berth's own word lists.
var (
	adjectives = []string{
		"agile", "amber", "ancient", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp",
		"curious", "daring", "eager", "early", "elated", "epic", "fair", "fast", "fervent", "fond",
		"gentle", "glad", "golden", "happy", "hardy", "humble", "jolly", "keen", "kind", "lively",
		"lucid", "lucky", "mellow", "merry", "mighty", "modest", "nimble", "noble", "patient", "placid",
		"proud", "quick", "quiet", "rapid", "ready", "sharp", "shiny", "silent", "sleek", "smart",
		"snug", "solid", "steady", "stoic", "sunny", "swift", "tender", "tidy", "upbeat", "vivid",
		"warm", "wise", "witty", "zealous",
	}
	surnames = []string{
		"archimedes", "babbage", "bohr", "boole", "cerf", "curie", "darwin", "dijkstra", "einstein", "euler",
		"faraday", "fermi", "feynman", "gauss", "goodall", "hamilton", "hawking", "hopper", "hypatia", "kepler",
		"knuth", "lamarr", "lamport", "leakey", "liskov", "lovelace", "maxwell", "meitner", "mendel", "newton",
		"noether", "pascal", "pasteur", "planck", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing",
		"volta", "wozniak", "yalow", "ride", "sagan", "payne", "franklin", "galileo", "heisenberg", "johnson",
	}
)

// randomNameLocked picks an unused random name; d.mu must be held.
func (d *Daemon) randomNameLocked() string {
	for i := 0; ; i++ {
		n := adjectives[rand.IntN(len(adjectives))] + "_" + surnames[rand.IntN(len(surnames))]
		if i > 10 {
			n = fmt.Sprintf("%s%d", n, rand.IntN(10))
		}
		if _, taken := d.names["/"+n]; !taken {
			return n
		}
	}
}
