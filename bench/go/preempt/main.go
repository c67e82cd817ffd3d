// preempt: a fairness demo and the cost of preemption, on GOMAXPROCS=1.
//  1. A goroutine spins in a tight loop for SPIN seconds while another
//     sleeps 50 ms at a time and records when it wakes. Prints `ticks N`
//     and `maxgap S` (longest time between two ticks).
//  2. A fixed loop of K iterations timed alone, and timed again while a
//     second goroutine is runnable (it loops on runtime.Gosched()). Prints
//     `overhead P` (percent, from process CPU time, best of REPS each) and
//     `time S` (the loop alone, wall clock).
//
// Usage: preempt [K] [SPIN seconds]   (default 40,000,000 and 2)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

const tick = 50 * time.Millisecond
const reps = 3

//go:noinline
func loop(k int) uint64 {
	var h uint64
	for i := 1; i <= k; i++ {
		h = (h ^ uint64(i)) * 1099511628211
	}
	return h
}

// cpu returns the process's CPU time (user + system) in seconds.
func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// timed runs loop(k) in a goroutine; with busy, a second goroutine keeps
// yielding meanwhile, so that one is always runnable.
func timed(k int, busy bool) (wall, cpuTime float64, h uint64) {
	var stop int32
	if busy {
		go func() {
			for atomic.LoadInt32(&stop) == 0 {
				runtime.Gosched()
			}
		}()
	}
	type res struct {
		wall, cpu float64
		h         uint64
	}
	out := make(chan res, 1)
	go func() {
		t0, c0 := time.Now(), cpu()
		h := loop(k)
		c1, t1 := cpu(), time.Now()
		atomic.StoreInt32(&stop, 1)
		out <- res{t1.Sub(t0).Seconds(), c1 - c0, h}
	}()
	r := <-out
	return r.wall, r.cpu, r.h
}

func main() {
	k := arg(1, 40000000)
	spin := 2.0
	if len(os.Args) > 2 {
		if v, err := strconv.ParseFloat(os.Args[2], 64); err == nil {
			spin = v
		}
	}
	runtime.GOMAXPROCS(1)

	// 1. fairness
	dur := time.Duration(spin * float64(time.Second))
	type report struct {
		who    string
		n      int
		maxgap time.Duration
	}
	res := make(chan report, 2)
	go func() {
		start := time.Now()
		last, ticks, maxgap := start, 0, time.Duration(0)
		for {
			time.Sleep(tick)
			t := time.Now()
			ticks++
			if t.Sub(last) > maxgap {
				maxgap = t.Sub(last)
			}
			last = t
			if t.Sub(start) >= dur {
				break
			}
		}
		res <- report{"ticker", ticks, maxgap}
	}()
	go func() {
		stop := time.Now().Add(dur)
		var h uint64
		rounds := 0
		for {
			for i := 1; i <= 65536; i++ {
				h = (h ^ uint64(i)) * 1099511628211
			}
			rounds++
			if !time.Now().Before(stop) {
				break
			}
		}
		res <- report{"spinner", rounds, time.Duration(h & 1)}
	}()
	ticks, rounds := -1, -1
	var maxgap time.Duration
	for i := 0; i < 2; i++ {
		r := <-res
		if r.who == "ticker" {
			ticks, maxgap = r.n, r.maxgap
		} else {
			rounds = r.n
		}
	}
	if ticks <= 0 || rounds <= 0 {
		fmt.Fprintln(os.Stderr, "preempt: FAIL: the spinner or the ticker did not report")
		os.Exit(1)
	}

	// 2. preemption overhead
	alone, busy, aloneWall, busyWall := 1e9, 1e9, 1e9, 1e9
	var h1, h2 uint64
	for i := 0; i < reps; i++ {
		var w, c float64
		w, c, h1 = timed(k, false)
		alone, aloneWall = min(alone, c), min(aloneWall, w)
		w, c, h2 = timed(k, true)
		busy, busyWall = min(busy, c), min(busyWall, w)
	}
	if h1 != h2 || loop(1000) != 0x24f575eb89e8a788 {
		fmt.Fprintln(os.Stderr, "preempt: FAIL: the loop gave different results")
		os.Exit(1)
	}
	fmt.Printf("preempt ok: GOMAXPROCS %d, spin %.1f s, %d ticks, loop %d\n",
		runtime.GOMAXPROCS(0), spin, ticks, k)
	fmt.Printf("ticks %d\n", ticks)
	fmt.Printf("maxgap %.6f\n", maxgap.Seconds())
	fmt.Printf("alone %.6f\n", alone)
	fmt.Printf("busy %.6f\n", busy)
	fmt.Printf("overhead %.2f\n", (busy/alone-1)*100)
	fmt.Printf("time %.6f\n", aloneWall)
}

func min(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}

func arg(i, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}
