// The Go Tour's web crawler exercise (https://go.dev/tour/concurrency/10),
// solved: fetch URLs in parallel, without fetching the same URL twice. The
// Go original of examples/crawler.lua. The fetches run in any order, so the
// lines are collected and printed sorted, to make the output deterministic.
package main

import (
	"fmt"
	"sort"
	"sync"
)

type Fetcher interface {
	// Fetch returns the body of URL and
	// a slice of URLs found on that page.
	Fetch(url string) (body string, urls []string, err error)
}

// SafeSet is a set of URLs safe to use concurrently.
type SafeSet struct {
	mu sync.Mutex
	v  map[string]bool
}

// Visit marks url as seen and reports whether it was not seen before.
func (s *SafeSet) Visit(url string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v[url] {
		return false
	}
	s.v[url] = true
	return true
}

// Crawl uses fetcher to recursively crawl pages starting with url, to a
// maximum of depth, each linked page in its own goroutine; it sends one
// line per fetch on out.
func Crawl(url string, depth int, fetcher Fetcher, seen *SafeSet, wg *sync.WaitGroup, out chan<- string) {
	defer wg.Done()
	if depth <= 0 || !seen.Visit(url) {
		return
	}
	body, urls, err := fetcher.Fetch(url)
	if err != nil {
		out <- err.Error()
		return
	}
	out <- fmt.Sprintf("found: %s %q", url, body)
	for _, u := range urls {
		wg.Add(1)
		go Crawl(u, depth-1, fetcher, seen, wg, out)
	}
}

func main() {
	seen := &SafeSet{v: make(map[string]bool)}
	out := make(chan string)
	var wg sync.WaitGroup
	wg.Add(1)
	go Crawl("https://golang.org/", 4, fetcher, seen, &wg, out)
	go func() {
		wg.Wait()
		close(out)
	}()
	var lines []string
	for line := range out {
		lines = append(lines, line)
	}
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Println(line)
	}
}

// fakeFetcher is Fetcher that returns canned results.
type fakeFetcher map[string]*fakeResult

type fakeResult struct {
	body string
	urls []string
}

func (f fakeFetcher) Fetch(url string) (string, []string, error) {
	if res, ok := f[url]; ok {
		return res.body, res.urls, nil
	}
	return "", nil, fmt.Errorf("not found: %s", url)
}

// fetcher is a populated fakeFetcher.
var fetcher = fakeFetcher{
	"https://golang.org/": &fakeResult{
		"The Go Programming Language",
		[]string{
			"https://golang.org/pkg/",
			"https://golang.org/cmd/",
		},
	},
	"https://golang.org/pkg/": &fakeResult{
		"Packages",
		[]string{
			"https://golang.org/",
			"https://golang.org/cmd/",
			"https://golang.org/pkg/fmt/",
			"https://golang.org/pkg/os/",
		},
	},
	"https://golang.org/pkg/fmt/": &fakeResult{
		"Package fmt",
		[]string{
			"https://golang.org/",
			"https://golang.org/pkg/",
		},
	},
	"https://golang.org/pkg/os/": &fakeResult{
		"Package os",
		[]string{
			"https://golang.org/",
			"https://golang.org/pkg/",
		},
	},
}
