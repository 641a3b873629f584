package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	var log bytes.Buffer
	srv := httptest.NewServer(NewHandler("/api/iot/", &log))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
		body         map[string]interface{}
	}{
		{"GET", "/api/iot/test", 200, map[string]interface{}{"location_id": "test", "location_name": "test", "latitude": 0.0, "longitude": 0.0}},
		{"GET", "/api/iot/test?x=1", 200, map[string]interface{}{"location_id": "test", "location_name": "test", "latitude": 0.0, "longitude": 0.0}},
		{"GET", "/api/iot/other", 404, map[string]interface{}{"message": msgNotFound}},
		{"GET", "/test", 404, map[string]interface{}{"message": msgNotFound}},
		{"GET", "/api/iot/test/", 404, map[string]interface{}{"message": msgNotFound}},
		{"POST", "/api/iot/test", 405, map[string]interface{}{"message": msgNotAllowed}},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]interface{}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" || fmt.Sprint(got) != fmt.Sprint(c.body) {
			t.Errorf("%s %s: %d %v %v (%s), want %d %v", c.method, c.path, resp.StatusCode, got, err, resp.Header.Get("Content-Type"), c.status, c.body)
		}
	}
	if !strings.Contains(log.String(), `"GET /api/iot/test HTTP/1.1" 200 -`) || !strings.Contains(log.String(), `"POST /api/iot/test HTTP/1.1" 405 -`) {
		t.Errorf("access log:\n%s", log.String())
	}
}

// run prints the course's lines, serves the configured port and returns nil once its
// context ends (as it does on SIGTERM).
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(t.TempDir(), "conf.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf("rest:\n  api_prefix: \"/api/iot\"\n  host: \"127.0.0.1\"\n  port: %d\n", port)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, conf, out) }()
	var body []byte
	for i := 0; i < 100; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/iot/test", port))
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(body) != `{"location_id":"test","location_name":"test","latitude":0,"longitude":0}`+"\n" {
		t.Fatalf("body %q", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	want := fmt.Sprintf("Read Configuration from file (%s): {'rest': {'api_prefix': '/api/iot', 'host': '127.0.0.1', 'port': %d}}\nStarting HTTP RESTful API Server ...\n", conf, port)
	if s := out.String(); !strings.HasPrefix(s, want) || !strings.HasSuffix(s, "Stopping HTTP RESTful API Server ...\n") {
		t.Fatalf("output:\n%s\nwant it to start with:\n%s", s, want)
	}
	// A bad file is an error, and nothing is served.
	os.WriteFile(conf, []byte("rest:\n  port: x\n"), 0o644)
	if err := run(context.Background(), conf, io.Discard); err == nil || !strings.Contains(err.Error(), `conf.yaml:2: port "x"`) {
		t.Fatalf("bad file: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
