// main-spawn: main starts N goroutines that each call wg.Done(), then waits
// for all of them (spawn, with the loop in main).
// Usage: main-spawn [goroutines]   (default 1,000,000)
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
	n := arg(1, 1000000)

	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	started := 0
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
		started++
	}
	wg.Wait()
	elapsed := time.Since(t0)

	if started != n {
		fmt.Fprintf(os.Stderr, "main-spawn: FAIL: started %d, want %d\n", started, n)
		os.Exit(1)
	}
	fmt.Printf("main-spawn ok: %d goroutines, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
