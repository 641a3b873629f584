// Command myapp is the course's HTTP RESTful API server written in Go with the standard
// library only: it reads conf.yaml (rest: api_prefix, host, port) and answers
// GET <api_prefix>/test with a JSON test location.
package main
