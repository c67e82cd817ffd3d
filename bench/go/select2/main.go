// select2: one goroutine selects over two unbuffered channels, each fed by
// its own producer; N values in all, N/2 from each.
// Usage: select2 [values]   (default 2,000,000, even)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	n := arg(1, 2000000)
	if n%2 != 0 {
		fmt.Fprintln(os.Stderr, "select2: values must be even")
		os.Exit(1)
	}
	a, b := make(chan int), make(chan int)
	done := make(chan [3]int, 1)

	t0 := time.Now()
	producer := func(ch chan int, n int) {
		for i := 1; i <= n; i++ {
			ch <- i
		}
	}
	go producer(a, n/2)
	go producer(b, n/2)
	go func() {
		sum, na, nb := 0, 0, 0
		for i := 0; i < n; i++ {
			select {
			case v := <-a:
				na++
				sum += v
			case v := <-b:
				nb++
				sum += v
			}
		}
		done <- [3]int{sum, na, nb}
	}()
	r := <-done
	elapsed := time.Since(t0)

	half := n / 2
	want := 2 * (half * (half + 1) / 2)
	if r[0] != want || r[1] != half || r[2] != half {
		fmt.Fprintf(os.Stderr, "select2: FAIL: sum %d, from a %d, from b %d; want %d, %d, %d\n",
			r[0], r[1], r[2], want, half, half)
		os.Exit(1)
	}
	fmt.Printf("select2 ok: %d values, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
