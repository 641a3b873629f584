package jsonfile

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/logger/jsonwriter"
	"github.com/docker/go-units"
)

// Options are the json-file driver's --log-opt settings.
type Options = jsonwriter.Options

// ParseLogOpts validates --log-opt key=value pairs as Docker's json-file driver
// does (max-size with k/m/g units, max-file >= 1) and returns the options.
// Its errors are of class errdefs.ErrInvalidParameter.
func ParseLogOpts(opts map[string]string) (Options, error) {
	o := Options{MaxFiles: 1}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bad := func(msg string) (Options, error) { return Options{}, errdefs.InvalidParameter(msg) }
	compress := false
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "max-size":
			n, err := units.FromHumanSize(v)
			if err != nil {
				return bad(fmt.Sprintf("invalid max-size %q: %v", v, err))
			}
			if n <= 0 {
				return bad("max-size must be a positive number")
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil {
				var ne *strconv.NumError
				if errors.As(err, &ne) {
					err = ne.Err
				}
				return bad(fmt.Sprintf("invalid max-file %q: %v", v, err))
			}
			if n < 1 {
				return bad("max-file cannot be less than 1")
			}
			o.MaxFiles = n
		case "compress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad(fmt.Sprintf("invalid compress %q: must be true or false", v))
			}
			compress = b
		case "labels", "labels-regex", "env", "env-regex", "tag":
			return bad(fmt.Sprintf("log opt '%s' is not supported by berth's json-file log driver", k))
		default:
			return bad(fmt.Sprintf("unknown log opt '%s' for json-file log driver", k))
		}
	}
	if compress {
		if o.MaxFiles < 2 || o.MaxSize == 0 {
			return bad("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
		return bad("log opt compress=true is not supported by berth's json-file log driver")
	}
	return o, nil
}
