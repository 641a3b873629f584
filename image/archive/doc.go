// Package archive reads and writes image archives: the docker-archive format of
// docker save (manifest.json, repositories) and the OCI image layout (index.json,
// oci-layout, blobs/sha256), written together in one tar so either reader works.
package archive
