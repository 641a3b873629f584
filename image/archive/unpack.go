package archive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	layerarchive "github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/snapshot"
	digest "github.com/opencontainers/go-digest"
)

// Unpacked is the result of Unpack.
type Unpacked struct {
	ChainIDs []string // snapshot keys of the layers, bottom to top
	Size     int64    // uncompressed size of all layers
	Created  []string // snapshots Unpack committed, bottom to top
}

// Unpack applies each layer blob whose snapshot is missing into a new snapshot,
// checks its DiffID and commits it under its chain ID on the layer below. On error
// the snapshots it committed are removed again.
func Unpack(ctx context.Context, p content.Provider, sn snapshot.Snapshotter, layers, diffIDs []digest.Digest) (u Unpacked, err error) {
	if len(layers) != len(diffIDs) {
		return u, errdefs.InvalidParameter(fmt.Sprintf("%d layers but %d diff IDs", len(layers), len(diffIDs)))
	}
	u.ChainIDs = image.ChainIDs(diffIDs)
	defer func() {
		if err != nil {
			Remove(ctx, sn, u.Created)
			u.Created = nil
		}
	}()
	for i, l := range layers {
		chain, parent := u.ChainIDs[i], ""
		if i > 0 {
			parent = u.ChainIDs[i-1]
		}
		if info, err := sn.Stat(ctx, chain); err == nil {
			n, _ := strconv.ParseInt(info.Labels[snapshot.LabelSize], 10, 64)
			u.Size += n
			continue
		}
		n, made, err := unpackLayer(ctx, p, sn, l, diffIDs[i], chain, parent)
		if err != nil {
			return u, err
		}
		u.Size += n
		if made {
			u.Created = append(u.Created, chain)
		}
	}
	return u, nil
}

// Remove removes snapshots made by Unpack, top to bottom.
func Remove(ctx context.Context, sn snapshot.Snapshotter, created []string) {
	ctx = context.WithoutCancel(ctx)
	for i := len(created) - 1; i >= 0; i-- {
		sn.Remove(ctx, created[i])
	}
}

func unpackLayer(ctx context.Context, p content.Provider, sn snapshot.Snapshotter, blob, diffID digest.Digest, chain, parent string) (size int64, made bool, err error) {
	var b [8]byte
	rand.Read(b[:])
	key := "load-" + hex.EncodeToString(b[:])
	mounts, err := sn.Prepare(ctx, key, "", snapshot.WithLabels(map[string]string{snapshot.LabelTemporary: "1"}))
	if err != nil {
		return 0, false, err
	}
	keep := false
	defer func() {
		if !keep {
			sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, err := snapshot.WritableDir(mounts)
	if err != nil {
		return 0, false, err
	}
	ra, err := p.ReaderAt(ctx, blob)
	if err != nil {
		return 0, false, err
	}
	defer ra.Close()
	res, err := layerarchive.Apply(ctx, dir, io.NewSectionReader(ra, 0, ra.Size()), layerarchive.Options{})
	if err != nil {
		return 0, false, invalid("layer %s: %v", blob, err)
	}
	if res.DiffID != diffID {
		return 0, false, invalid("layer %s: diff ID mismatch: the config says %s, the layer is %s", blob, diffID, res.DiffID)
	}
	err = sn.Commit(ctx, chain, key, snapshot.WithParent(parent),
		snapshot.WithLabels(map[string]string{snapshot.LabelSize: strconv.FormatInt(res.Size, 10)}))
	switch {
	case err == nil:
		keep = true
		return res.Size, true, nil
	case errdefs.IsConflict(err):
		return res.Size, false, nil // committed meanwhile by a pull or another load
	}
	return 0, false, err
}
