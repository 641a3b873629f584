package daemon

import (
	"errors"

	"github.com/berth-dev/berth/errdefs"
)

func errorsIsNotModified(err error) bool { return errors.Is(err, errdefs.ErrNotModified) }
