// Package distribution pulls images from registries (go-containerregistry) into the
// content store, the snapshotter and the image store, pushes them back from the content
// store and checks registry logins, reporting progress as dockerd does.
package distribution
