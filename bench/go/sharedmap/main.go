// sharedmap: 4 goroutines each do N operations on one map of 10,000
// integer keys (1..10000, pre-filled) guarded by a sync.RWMutex: 90% reads
// under RLock, 10% writes under Lock, of keys drawn by a per-goroutine
// xorshift64 generator (the same sequence as bench/sharedmap.lua, so both
// do the same work). The twin of plain reads and writes of a lugo.table.
// Usage: sharedmap [operations per goroutine]   (default 1,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const (
	g    = 4
	keys = 10000
)

// worker does n operations with generator seed id and returns how many were
// reads. A read must find its key with a value that some write (or the
// fill) could have stored: 0 <= v < 1<<24.
func worker(id, n int, mu *sync.RWMutex, m map[int]int) (reads int) {
	x := uint64(id)*2654435761 + 1
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		k := int((x>>32)%keys) + 1
		if (x>>8)%10 == 0 { // 1 in 10: a write
			mu.Lock()
			m[k] = int(x >> 40)
			mu.Unlock()
		} else {
			mu.RLock()
			v, ok := m[k]
			mu.RUnlock()
			if !ok || v < 0 || v >= 1<<24 {
				fmt.Fprintf(os.Stderr, "sharedmap: FAIL: key %d holds %d (present: %v)\n", k, v, ok)
				os.Exit(1)
			}
			reads++
		}
	}
	return reads
}

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	var mu sync.RWMutex
	m := make(map[int]int, keys)
	for k := 1; k <= keys; k++ {
		m[k] = k
	}
	reads := make([]int, g)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func(id int) {
			reads[id-1] = worker(id, n, &mu, m)
			wg.Done()
		}(i + 1)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	total := 0
	for _, r := range reads {
		total += r
	}
	// The generator is deterministic, so the read count is a fixed number
	// (about 90% of g*n); check it is plausible and that no key was lost.
	if len(m) != keys || total < g*n*85/100 || total > g*n*95/100 {
		fmt.Fprintf(os.Stderr, "sharedmap: FAIL: %d keys (want %d), %d reads of %d operations\n", len(m), keys, total, g*n)
		os.Exit(1)
	}
	fmt.Printf("sharedmap ok: %d goroutines x %d operations (%d reads), %d keys, GOMAXPROCS %d\n", g, n, total, keys, runtime.GOMAXPROCS(0))
	fmt.Printf("time %.6f\n", elapsed.Seconds())
}
