// pingpong: two goroutines bounce an integer over two unbuffered channels.
// Usage: pingpong [round trips]   (default 1,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	n := arg(1, 1000000)
	ping, pong := make(chan int), make(chan int)
	done := make(chan int, 1)

	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()
	go func() {
		sum := 0
		for i := 1; i <= n; i++ {
			ping <- i
			v := <-pong
			if v != i+1 {
				panic(fmt.Sprintf("pingpong: got %d, want %d", v, i+1))
			}
			sum += v
		}
		done <- sum
	}()
	sum := <-done
	elapsed := time.Since(t0)

	want := n*(n+1)/2 + n
	if sum != want {
		fmt.Fprintf(os.Stderr, "pingpong: FAIL: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("pingpong ok: %d round trips, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
