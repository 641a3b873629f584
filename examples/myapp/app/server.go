package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Location is the JSON resource the API returns.
type Location struct {
	ID        string  `json:"location_id"`
	Name      string  `json:"location_name"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Flask's messages for unknown URLs and methods.
const (
	msgNotFound   = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
	msgNotAllowed = "The method is not allowed for the requested URL."
)

// NewHandler serves GET <prefix>/test; every other URL gets a JSON 404 and every other
// method a JSON 405. Each request is logged to accessLog when it is not nil.
func NewHandler(prefix string, accessLog io.Writer) http.Handler {
	testPath := strings.TrimRight(prefix, "/") + "/test"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != testPath {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": msgNotFound})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": msgNotAllowed})
			return
		}
		writeJSON(w, http.StatusOK, Location{ID: "test", Name: "test"})
	})
	if accessLog == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		fmt.Fprintf(accessLog, "%s - - [%s] \"%s %s %s\" %d -\n", host, time.Now().Format("02/Jan/2006 15:04:05"), r.Method, r.URL.RequestURI(), r.Proto, sw.status)
	})
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
