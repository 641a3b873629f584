// Package content is Berth's content-addressed blob store: compressed layers, manifests
// and configs under <root>/content/blobs/sha256/<hex>, written through verified ingest.
package content
