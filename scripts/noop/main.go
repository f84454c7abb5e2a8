// Command noop is the machine reference of paysim's performance figures: a
// Go HTTP server whose handler does nothing, measured under wrk on
// loopback (scripts/reference.sh). Machines of one nominal size differ
// ~2.5x in what it does; quoting paysim's rates as a ratio to it makes
// them comparable.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "loopback address to serve on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("noop: -addr %q: a loopback host:port is required", *addr)
	}
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
}
