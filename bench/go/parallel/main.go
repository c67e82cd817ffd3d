// parallel: 8 goroutines of CPU-bound integer hashing, no communication but
// the results. Run with GOMAXPROCS=1 and =2 to see the speedup.
// Usage: parallel [iterations per goroutine]   (default 15,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

const defaultM = 15000000

// h = (h xor i) * FNV prime, then xor-shift: bit for bit what lugo's
// 64-bit wrapping integers compute.
func hash(seed uint64, m int) uint64 {
	h := seed
	for i := 1; i <= m; i++ {
		h = (h ^ uint64(i)) * 1099511628211
		h = h ^ (h >> 29)
	}
	return h
}

func main() {
	m := arg(1, defaultM)
	const G = 8
	type result struct {
		k int
		h uint64
	}
	results := make(chan result, G)

	t0 := time.Now()
	for k := 1; k <= G; k++ {
		go func(k int) { results <- result{k, hash(uint64(k), m)} }(k)
	}
	var got [G + 1]uint64
	for i := 0; i < G; i++ {
		r := <-results
		got[r.k] = r.h
	}
	elapsed := time.Since(t0)

	var mix uint64
	for k := 1; k <= G; k++ {
		mix ^= got[k]
	}
	var want uint64
	if m == defaultM {
		want = 0x78540c502e4a9ddb
	} else {
		for k := 1; k <= G; k++ {
			want ^= hash(uint64(k), m)
		}
	}
	if mix != want {
		fmt.Fprintf(os.Stderr, "parallel: FAIL: mix %016x, want %016x\n", mix, want)
		os.Exit(1)
	}
	fmt.Printf("parallel ok: %d goroutines x %d iterations, mix %016x, GOMAXPROCS %d\n",
		G, m, mix, runtime.GOMAXPROCS(0))
	fmt.Printf("time %.6f\n", elapsed.Seconds())
}

func arg(i, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}
