// main-buffered: main sends N integers into a channel of capacity 1024 and
// closes it; one goroutine sums them and sends the sum and the count back.
// Usage: main-buffered [values]   (default 10,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	n := arg(1, 10000000)
	ch := make(chan int, 1024)
	done := make(chan [2]int, 1)

	t0 := time.Now()
	go func() {
		sum, count := 0, 0
		for {
			v, ok := <-ch
			if !ok {
				break
			}
			sum += v
			count++
		}
		done <- [2]int{sum, count}
	}()
	for i := 1; i <= n; i++ {
		ch <- i
	}
	close(ch)
	r := <-done
	elapsed := time.Since(t0)

	want := n * (n + 1) / 2
	if r[0] != want || r[1] != n {
		fmt.Fprintf(os.Stderr, "main-buffered: FAIL: sum %d count %d, want %d %d\n", r[0], r[1], want, n)
		os.Exit(1)
	}
	fmt.Printf("main-buffered ok: %d values, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
