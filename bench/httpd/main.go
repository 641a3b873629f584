// Command httpd is the benchmark target of bench/network.sh: a keep-alive HTTP/1.1 server
// that answers every request with the same small body, so that the network path, not
// the server, is what the benchmark measures.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("addr", ":80", "listen address")
	size := flag.Int("size", 100, "response body size in bytes")
	closeConn := flag.Bool("close", false, "close every connection after one response (no keep-alive)")
	flag.Parse()
	if *size < 1 {
		log.Fatal("httpd: -size must be at least 1")
	}
	body := []byte(strings.Repeat("x", *size-1) + "\n")
	length := strconv.Itoa(len(body))
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{length}
		w.Write(body)
	})}
	srv.SetKeepAlivesEnabled(!*closeConn)
	log.Fatal(srv.ListenAndServe())
}
