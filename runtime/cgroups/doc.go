// Package cgroups reads a container's resource usage from its cgroup, on
// cgroup v1 (including hybrid hosts) and v2, in the layout of Docker's stats.
package cgroups
