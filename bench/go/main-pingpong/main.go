// main-pingpong: main and one goroutine bounce an integer over two
// unbuffered channels; main sends, the goroutine answers.
// Usage: main-pingpong [round trips]   (default 500,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	n := arg(1, 500000)
	ping, pong := make(chan int), make(chan int)

	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()
	sum := 0
	for i := 1; i <= n; i++ {
		ping <- i
		v := <-pong
		if v != i+1 {
			panic(fmt.Sprintf("main-pingpong: got %d, want %d", v, i+1))
		}
		sum += v
	}
	elapsed := time.Since(t0)

	want := n*(n+1)/2 + n
	if sum != want {
		fmt.Fprintf(os.Stderr, "main-pingpong: FAIL: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("main-pingpong ok: %d round trips, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
