// counter-atomic: 4 goroutines each add 1 to one shared counter N times
// with sync/atomic.AddInt64; main waits on a WaitGroup.
// Usage: counter-atomic [adds per goroutine]   (default 1,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
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
	var counter int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			for j := 0; j < n; j++ {
				atomic.AddInt64(&counter, 1)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if atomic.LoadInt64(&counter) != int64(g*n) {
		fmt.Fprintf(os.Stderr, "counter-atomic: FAIL: %d, want %d\n", counter, g*n)
		os.Exit(1)
	}
	fmt.Printf("counter-atomic ok: %d goroutines x %d adds, GOMAXPROCS %d\n", g, n, runtime.GOMAXPROCS(0))
	fmt.Printf("time %.6f\n", elapsed.Seconds())
}
