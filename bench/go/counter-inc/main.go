// counter-inc: 4 goroutines each add 1 to one shared counter N times, the
// counter being the entry "n" of a map guarded by a sync.Mutex (the twin of
// lugo.inc on a lugo.table); main waits on a WaitGroup.
// Usage: counter-inc [adds per goroutine]   (default 1,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	const g = 4
	var mu sync.Mutex
	m := map[string]int{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			for j := 0; j < n; j++ {
				mu.Lock()
				m["n"]++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if m["n"] != g*n {
		fmt.Fprintf(os.Stderr, "counter-inc: FAIL: %d, want %d\n", m["n"], g*n)
		os.Exit(1)
	}
	fmt.Printf("counter-inc ok: %d goroutines x %d adds, GOMAXPROCS %d\n", g, n, runtime.GOMAXPROCS(0))
	fmt.Printf("time %.6f\n", elapsed.Seconds())
}
