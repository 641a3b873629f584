// Package logger defines the log driver seam and the Docker-style copier that
// splits a container's output stream into log entries.
package logger
