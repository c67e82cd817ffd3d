// host-send: main sends integers into a channel (capacity 128) that one
// goroutine sums; the goroutine sends the sum back. Twin of bench/host-send.c.
// Usage: host-send [count]   (default 1,000,000)
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	in, out := make(chan int, 128), make(chan int, 1)
	t0 := time.Now()
	go func() {
		sum := 0
		for v := range in {
			sum += v
		}
		out <- sum
	}()
	for i := 1; i <= n; i++ {
		in <- i
	}
	close(in)
	sum := <-out
	elapsed := time.Since(t0).Seconds()
	if sum != n*(n+1)/2 {
		fmt.Fprintf(os.Stderr, "host-send: FAIL: sum %d, want %d\n", sum, n*(n+1)/2)
		os.Exit(1)
	}
	fmt.Printf("host-send ok: %d integers\ntime %.6f\n", n, elapsed)
}
