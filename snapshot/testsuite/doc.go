// Package testsuite is the conformance suite every snapshot.Snapshotter runs.
package testsuite
