// httpd-bufio: the Go twin of examples/httpd.lua for bench/httpd: net and
// bufio, a goroutine per connection reading the request line and headers
// line by line, keep-alive, a fixed body. Usage: httpd-bufio ADDR
package main

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
)

const body = "Hello from lugo\n"

func handle(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			return
		}
		keep := parts[2] == "HTTP/1.1"
		for {
			h, err := r.ReadString('\n')
			if err != nil {
				return
			}
			h = strings.TrimRight(h, "\r\n")
			if h == "" {
				break
			}
			if i := strings.IndexByte(h, ':'); i > 0 && strings.EqualFold(h[:i], "connection") &&
				strings.EqualFold(strings.TrimSpace(h[i+1:]), "close") {
				keep = false
			}
		}
		w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		if keep {
			w.WriteString("\r\n\r\n")
		} else {
			w.WriteString("\r\nConnection: close\r\n\r\n")
		}
		w.WriteString(body)
		if w.Flush() != nil || !keep {
			return
		}
	}
}

func main() {
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		panic(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		go handle(c)
	}
}
