package daemon

import (
	"context"

	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
)

// Push uploads a local image (name without tag, plus tag; "" tag pushes every tag of
// the repository) to its registry, reporting progress as dockerd does. Credentials
// come from ctx (WithRegistryAuth).
func (d *Daemon) Push(ctx context.Context, name, tag string, progress func(jsonstream.Message)) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return errdefs.InvalidParameter(err.Error())
	}
	if t, ok := named.(reference.Tagged); ok && tag == "" {
		tag = t.Tag()
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.InvalidParameter("cannot push a digest reference")
	}
	return d.puller.Push(ctx, reference.TrimNamed(named).String(), tag, progress)
}
