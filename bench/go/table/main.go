// table: N small records {ID: i, Name: "item"+i, Tags: {"a","b","c"}} sent
// through a buffered channel (capacity 1024) from a producer to a consumer.
// Go sends the struct by value (the Tags slice is a fresh allocation per
// record, but its backing array is shared, not copied); lugo deep-copies.
// Usage: table [records]   (default 1,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

type item struct {
	ID   int
	Name string
	Tags []string
}

func main() {
	n := arg(1, 1000000)
	ch := make(chan item, 1024)
	done := make(chan [3]int, 1)

	t0 := time.Now()
	go func() {
		for i := 1; i <= n; i++ {
			ch <- item{ID: i, Name: "item" + strconv.Itoa(i), Tags: []string{"a", "b", "c"}}
		}
		close(ch)
	}()
	go func() {
		ids, names, tags := 0, 0, 0
		for t := range ch {
			ids += t.ID
			names += len(t.Name)
			if t.Tags[2] == "c" {
				tags += len(t.Tags)
			}
		}
		done <- [3]int{ids, names, tags}
	}()
	r := <-done
	elapsed := time.Since(t0)

	names := 0
	for i := 1; i <= n; i++ {
		names += 4 + len(strconv.Itoa(i))
	}
	want := [3]int{n * (n + 1) / 2, names, 3 * n}
	if r != want {
		fmt.Fprintf(os.Stderr, "table: FAIL: ids %d names %d tags %d, want %d %d %d\n",
			r[0], r[1], r[2], want[0], want[1], want[2])
		os.Exit(1)
	}
	fmt.Printf("table ok: %d records, GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
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
