// sleepers: N goroutines that each sleep 10 ms, then wg.Done(); the
// spawning and the wait run in a goroutine, as lugo's do.
// Usage: sleepers [goroutines]   (default 100,000)
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
	n := arg(1, 100000)
	const d = 10 * time.Millisecond
	done := make(chan int, 1)

	t0 := time.Now()
	go func() {
		var wg sync.WaitGroup
		wg.Add(n)
		started := 0
		for i := 0; i < n; i++ {
			go func() { time.Sleep(d); wg.Done() }()
			started++
		}
		wg.Wait()
		done <- started
	}()
	started := <-done
	elapsed := time.Since(t0)

	if started != n || elapsed < d {
		fmt.Fprintf(os.Stderr, "sleepers: FAIL: started %d in %v, want %d in >= %v\n", started, elapsed, n, d)
		os.Exit(1)
	}
	fmt.Printf("sleepers ok: %d goroutines, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
