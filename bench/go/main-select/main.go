// main-select: main selects over two unbuffered channels, each fed by its
// own producer goroutine; N values in all, N/2 from each.
// Usage: main-select [values]   (default 2,000,000, even)
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
		fmt.Fprintln(os.Stderr, "main-select: values must be even")
		os.Exit(1)
	}
	a, b := make(chan int), make(chan int)

	t0 := time.Now()
	producer := func(ch chan int, n int) {
		for i := 1; i <= n; i++ {
			ch <- i
		}
	}
	go producer(a, n/2)
	go producer(b, n/2)
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
	elapsed := time.Since(t0)

	half := n / 2
	want := 2 * (half * (half + 1) / 2)
	if sum != want || na != half || nb != half {
		fmt.Fprintf(os.Stderr, "main-select: FAIL: sum %d, from a %d, from b %d; want %d, %d, %d\n",
			sum, na, nb, want, half, half)
		os.Exit(1)
	}
	fmt.Printf("main-select ok: %d values, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
