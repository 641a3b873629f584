// Package archive moves filesystem trees in and out of tar streams: it applies OCI and
// Docker layers (and docker cp archives) to directories without ever leaving the target
// or following a symlink, converting whiteouts to overlayfs form; it writes trees as tar
// without following symlinks; and it turns an overlayfs upper directory back into an OCI
// layer or a docker diff list.
package archive
