// httpd-nethttp: Go's net/http serving the same fixed body, reported
// beside bench/httpd's twins. Usage: httpd-nethttp ADDR
package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello from lugo\n"))
	})
	panic(http.ListenAndServe(os.Args[1], nil))
}
