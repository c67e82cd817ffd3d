// echo-client: the load generator of bench/echo: N connections, each
// ping-ponging a message of S bytes with the server for D seconds; prints
// the round trips per second (all connections together).
// Usage: echo-client ADDR [conns] [size] [seconds]   (50, 64, 10)
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}

func main() {
	addr := os.Args[1]
	conns, size, seconds := arg(2, 50), arg(3, 64), arg(4, 10)
	var total int64
	var failed int32
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				atomic.StoreInt32(&failed, 1)
				return
			}
			defer c.Close()
			out, in := make([]byte, size), make([]byte, size)
			for k := range out {
				out[k] = byte('a' + k%26)
			}
			n := int64(0)
			for time.Now().Before(deadline) {
				if _, err := c.Write(out); err != nil {
					atomic.StoreInt32(&failed, 1)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil || string(in) != string(out) {
					atomic.StoreInt32(&failed, 1)
					return
				}
				n++
			}
			atomic.AddInt64(&total, n)
		}()
	}
	wg.Wait()
	if failed != 0 {
		fmt.Fprintln(os.Stderr, "echo-client: FAIL: a connection failed or got wrong bytes")
		os.Exit(1)
	}
	fmt.Printf("roundtrips_per_s %.0f\n", float64(total)/float64(seconds))
}
