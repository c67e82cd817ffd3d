// chain: a daisy chain of G goroutines, each receiving from its right
// neighbour and sending the value + 1 to its left; one value is passed
// through the whole chain R times.
// Usage: chain [goroutines] [passes]   (default 10,000 and 100)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func link(left chan<- int, right <-chan int, r int) {
	for i := 0; i < r; i++ {
		left <- 1 + <-right
	}
}

func main() {
	g := arg(1, 10000)
	r := arg(2, 100)
	done := make(chan int, 1)

	t0 := time.Now()
	go func() {
		leftmost := make(chan int)
		left := leftmost
		for i := 0; i < g; i++ {
			right := make(chan int)
			go link(left, right, r)
			left = right
		}
		rightmost := left
		sum := 0
		for i := 0; i < r; i++ {
			rightmost <- 0
			v := <-leftmost
			if v != g {
				panic(fmt.Sprintf("chain: got %d, want %d", v, g))
			}
			sum += v
		}
		done <- sum
	}()
	sum := <-done
	elapsed := time.Since(t0)

	if sum != g*r {
		fmt.Fprintf(os.Stderr, "chain: FAIL: sum %d, want %d\n", sum, g*r)
		os.Exit(1)
	}
	fmt.Printf("chain ok: %d goroutines, %d passes, GOMAXPROCS %d\n", g, r, runtime.GOMAXPROCS(0))
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
