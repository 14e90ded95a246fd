// SPDX-License-Identifier: Apache-2.0
// A load for Go's PGO made of the standard library's everyday work:
// records encoded to JSON and decoded back, matched by regular
// expressions, sorted, hashed and compressed, through interfaces (io.Writer,
// sort.Interface) as real services do. Sized by N, shaped by SEED (a
// profile taken with one seed is tried on another).
//
//	usage: goload N SEED
//
// GOLOAD_CPUPROFILE=FILE (%p: the pid) writes the Go runtime's own CPU
// profile of the run (runtime/pprof), at GOLOAD_CPUPROFILE_HZ samples a
// second (default 100): what bench/pgo/corpus.py compares syspgo's with.
package main

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
)

// cpuProfile starts the runtime's CPU profile when GOLOAD_CPUPROFILE asks
// for one; the returned function stops it.
func cpuProfile() func() {
	path := os.Getenv("GOLOAD_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err != nil {
		panic(err)
	}
	if hz, _ := strconv.Atoi(os.Getenv("GOLOAD_CPUPROFILE_HZ")); hz > 0 {
		// Before StartCPUProfile, which then keeps this rate (and says so).
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

type Record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	City  string            `json:"city"`
	Score float64           `json:"score"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

var words = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"}

type byScore []Record

func (r byScore) Len() int           { return len(r) }
func (r byScore) Less(i, j int) bool { return r[i].Score < r[j].Score || (r[i].Score == r[j].Score && r[i].ID < r[j].ID) }
func (r byScore) Swap(i, j int)      { r[i], r[j] = r[j], r[i] }

func makeRecords(rng *rand.Rand, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		r := &out[i]
		r.ID = i
		r.Name = words[rng.Intn(len(words))] + "-" + words[rng.Intn(len(words))] + "-" + strconv.Itoa(i)
		r.City = words[rng.Intn(len(words))]
		r.Score = float64(rng.Intn(100000)) / 100
		for t := 0; t < 1+rng.Intn(4); t++ {
			r.Tags = append(r.Tags, words[rng.Intn(len(words))])
		}
		r.Attrs = map[string]string{"k" + strconv.Itoa(rng.Intn(8)): words[rng.Intn(len(words))]}
	}
	return out
}

// digest writes through an interface, as services do.
func digest(w io.Writer, h hash.Hash, recs []Record) []byte {
	for i := range recs {
		fmt.Fprintf(w, "%d|%s|%s|%.2f\n", recs[i].ID, recs[i].Name, recs[i].City, recs[i].Score)
	}
	return h.Sum(nil)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goload N SEED")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[1])
	seed, _ := strconv.ParseInt(os.Args[2], 10, 64)
	defer cpuProfile()()
	rng := rand.New(rand.NewSource(seed))
	recs := makeRecords(rng, n)
	var sum uint64
	// JSON both ways.
	data, err := json.Marshal(recs)
	if err != nil {
		panic(err)
	}
	var back []Record
	if err := json.Unmarshal(data, &back); err != nil {
		panic(err)
	}
	// Regular expressions over the names.
	re := regexp.MustCompile(`^(alpha|echo|kilo)-([a-z]+)-(\d*7)$`)
	for i := range back {
		if m := re.FindStringSubmatch(back[i].Name); m != nil {
			sum += uint64(len(m[2]))
		}
		if strings.Contains(back[i].City, "o") {
			sum++
		}
	}
	// Sorting through sort.Interface, then by city with a closure.
	sort.Sort(byScore(back))
	sort.SliceStable(back, func(i, j int) bool { return back[i].City < back[j].City })
	// Hashing and compression through io.Writer.
	h := sha256.New()
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	d := digest(io.MultiWriter(h, zw), h, back)
	zw.Close()
	sum += uint64(d[0]) + uint64(buf.Len())
	fmt.Println(sum)
}
