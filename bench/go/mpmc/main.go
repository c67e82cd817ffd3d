// mpmc: 4 producers, 4 consumers, one channel of capacity 128; every value
// must arrive exactly once (checked by count and sum).
// Usage: mpmc [values]   (default 4,000,000; a multiple of 4)
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
	n := arg(1, 4000000)
	const P, C = 4, 4
	if n%P != 0 {
		fmt.Fprintln(os.Stderr, "mpmc: values must be a multiple of 4")
		os.Exit(1)
	}
	ch := make(chan int, 128)
	results := make(chan [2]int, C)
	var producers sync.WaitGroup

	t0 := time.Now()
	producers.Add(P)
	for p := 0; p < P; p++ {
		go func(first, last int) {
			for i := first; i <= last; i++ {
				ch <- i
			}
			producers.Done()
		}(p*(n/P)+1, (p+1)*(n/P))
	}
	go func() { producers.Wait(); close(ch) }()
	for c := 0; c < C; c++ {
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
			results <- [2]int{sum, count}
		}()
	}
	sum, count := 0, 0
	for c := 0; c < C; c++ {
		r := <-results
		sum, count = sum+r[0], count+r[1]
	}
	elapsed := time.Since(t0)

	want := n * (n + 1) / 2
	if sum != want || count != n {
		fmt.Fprintf(os.Stderr, "mpmc: FAIL: sum %d count %d, want %d %d\n", sum, count, want, n)
		os.Exit(1)
	}
	fmt.Printf("mpmc ok: %d values, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
