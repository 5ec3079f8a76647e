package moekit

import (
	"fmt"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// Status is a moekit_status code.
type Status int32

const (
	StatusOK                 Status = 0
	StatusInvalidArgument    Status = 1 // an argument is null, of the wrong dtype/shape/device, or out of range
	StatusUnsupported        Status = 2 // a valid configuration this backend cannot run exactly
	StatusBackendUnavailable Status = 3 // backend module missing, no driver, or no device
	StatusOutOfMemory        Status = 4
	StatusDevice             Status = 5 // a device runtime call failed
	StatusInternal           Status = 6 // a bug in moekit: please report it with the message
)

// String is the library's short name of the status ("invalid argument").
func (s Status) String() string {
	return native.Moekit_status_string(native.Enum_SS_moekit_status(s))
}

// Error is every error this package returns: the status of the failed call and the library's message, which
// names the offending argument. Get the status with errors.As, or compare with errors.Is against the
// Err* values below.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("moekit: %s: %s", e.Status, e.Message)
}

// Is matches the sentinel of the same status (ErrInvalidArgument, ...).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is(err, moekit.ErrInvalidArgument).
var (
	ErrInvalidArgument    = &Error{Status: StatusInvalidArgument}
	ErrUnsupported        = &Error{Status: StatusUnsupported}
	ErrBackendUnavailable = &Error{Status: StatusBackendUnavailable}
	ErrOutOfMemory        = &Error{Status: StatusOutOfMemory}
	ErrDevice             = &Error{Status: StatusDevice}
	ErrInternal           = &Error{Status: StatusInternal}
)

func invalidf(format string, args ...interface{}) error {
	return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf(format, args...)}
}
