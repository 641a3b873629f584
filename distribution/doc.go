// Package distribution pulls images from registries (go-containerregistry) into the
// content store, the snapshotter and the image store, reporting progress as dockerd does.
package distribution
