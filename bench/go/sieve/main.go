// sieve: the concurrent prime sieve (a generator and one filter goroutine
// per prime found, unbuffered channels), first N primes.
// Usage: sieve [primes]   (default 2,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func generate(ch chan<- int) {
	for i := 2; ; i++ {
		ch <- i
	}
}

func filter(in <-chan int, out chan<- int, prime int) {
	for {
		i := <-in
		if i%prime != 0 {
			out <- i
		}
	}
}

func main() {
	n := arg(1, 2000)
	done := make(chan [2]int, 1)

	t0 := time.Now()
	go func() {
		ch := make(chan int)
		go generate(ch)
		sum, last := 0, 0
		for i := 0; i < n; i++ {
			prime := <-ch
			sum, last = sum+prime, prime
			ch1 := make(chan int)
			go filter(ch, ch1, prime)
			ch = ch1
		}
		done <- [2]int{sum, last}
	}()
	r := <-done
	elapsed := time.Since(t0)

	// The same primes from a sequential trial division, outside the timing.
	sum, last, count := 0, 0, 0
	for i := 2; count < n; i++ {
		prime := true
		for d := 2; d*d <= i; d++ {
			if i%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			count, sum, last = count+1, sum+i, i
		}
	}
	if r[0] != sum || r[1] != last {
		fmt.Fprintf(os.Stderr, "sieve: FAIL: sum %d last %d, want %d %d\n", r[0], r[1], sum, last)
		os.Exit(1)
	}
	fmt.Printf("sieve ok: %d primes, last %d, GOMAXPROCS %d\n", n, last, runtime.GOMAXPROCS(0))
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
