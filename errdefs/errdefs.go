// Package errdefs defines Berth's error classes and their HTTP mapping.
package errdefs

import "errors"

// Error classes. Wrap them with %w and context; map to status only at the API edge.
var (
	ErrNotFound         = errors.New("not found")
	ErrConflict         = errors.New("conflict")
	ErrInvalidParameter = errors.New("invalid parameter")
	ErrUnavailable      = errors.New("unavailable")
	ErrNotImplemented   = errors.New("not implemented")
	ErrNotModified      = errors.New("not modified")
	ErrForbidden        = errors.New("forbidden")
)

// classed is an error whose message is shown as is but which belongs to a class.
type classed struct {
	msg   string
	class error
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

// New returns an error with exactly msg as its message, belonging to class.
func New(class error, msg string) error { return &classed{msg: msg, class: class} }

// NotFound returns an error of class ErrNotFound with message msg.
func NotFound(msg string) error { return New(ErrNotFound, msg) }

// Conflict returns an error of class ErrConflict with message msg.
func Conflict(msg string) error { return New(ErrConflict, msg) }

// Forbidden returns an ErrForbidden error with msg.
func Forbidden(msg string) error { return New(ErrForbidden, msg) }

// InvalidParameter returns an error of class ErrInvalidParameter with message msg.
func InvalidParameter(msg string) error { return New(ErrInvalidParameter, msg) }

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is of class ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalidParameter reports whether err is of class ErrInvalidParameter.
func IsInvalidParameter(err error) bool { return errors.Is(err, ErrInvalidParameter) }

// HTTPStatus maps an error to the status code Docker uses for its class. Plain
// numbers keep net/http out of the small binaries (berth-shim) that use errdefs.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrNotFound):
		return 404
	case errors.Is(err, ErrConflict):
		return 409
	case errors.Is(err, ErrInvalidParameter):
		return 400
	case errors.Is(err, ErrForbidden):
		return 403
	case errors.Is(err, ErrNotModified):
		return 304
	case errors.Is(err, ErrNotImplemented):
		return 501
	case errors.Is(err, ErrUnavailable):
		return 503
	default:
		return 500
	}
}
