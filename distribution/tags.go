package distribution

import (
	"context"
	"fmt"
	"slices"

	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// maxTags bounds a pull --all-tags: a repository with more tags is refused.
const maxTags = 1000

// ListTags returns the tags of a repository from the first endpoint (mirrors first)
// that answers, sorted.
func (p *Puller) ListTags(ctx context.Context, repo string) ([]string, error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, errdefs.InvalidParameter(err.Error())
	}
	eps, err := p.endpoints(reference.TrimNamed(named))
	if err != nil {
		return nil, err
	}
	var last error = errdefs.NotFound(fmt.Sprintf("repository %s not found", reference.FamiliarName(named)))
	for _, ep := range eps {
		c, err := p.client(ctx, ep)
		if err != nil {
			last = err
			continue
		}
		tags, err := remote.List(ep.repo, remote.WithContext(ctx), remote.WithTransport(c.Transport))
		if err != nil {
			last = err
			continue
		}
		if len(tags) > maxTags {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("repository %s has %d tags, more than the %d a pull --all-tags takes", reference.FamiliarName(named), len(tags), maxTags))
		}
		slices.Sort(tags)
		return tags, nil
	}
	return nil, last
}
