package moekit

import (
	"runtime"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// The library keeps its error message per OS thread, and a goroutine may move between threads between two
// cgo calls. So the call and the reading of its message happen with the goroutine locked to its thread.

// call runs one status-returning native call and turns a failure into an *Error with the library's message.
func call(f func() native.Enum_SS_moekit_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s := f(); s != native.MOEKIT_OK {
		return &Error{Status: Status(s), Message: native.Moekit_last_error()}
	}
	return nil
}

type swigHandle interface{ Swigcptr() uintptr }

// create runs one factory (NULL on failure, status in mkb_last_status) the same way.
func create[H swigHandle](f func() H) (H, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h := f()
	if h.Swigcptr() == 0 {
		var none H
		return none, &Error{Status: Status(native.Mkb_last_status()), Message: native.Moekit_last_error()}
	}
	return h, nil
}
