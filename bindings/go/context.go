package moekit

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// Version is the loaded library's version string ("1.0.0").
func Version() string { return native.Moekit_version_string() }

// ABIVersion is the loaded library's ABI version; these bindings were generated for ABI 1.
func ABIVersion() int { return native.Moekit_abi_version() }

// BackendInfo describes a backend and, if it is unavailable, why.
type BackendInfo struct {
	Backend     Backend
	Available   bool
	DeviceCount int
	Name        string
	Detail      string
}

// QueryBackend describes one backend.
func QueryBackend(b Backend) (BackendInfo, error) {
	info := native.NewBackendInfo()
	defer native.DeleteBackendInfo(info)
	if err := call(func() native.Enum_SS_moekit_status {
		return native.Moekit_backend_query(native.Enum_SS_moekit_backend(b), info)
	}); err != nil {
		return BackendInfo{}, err
	}
	return BackendInfo{Backend(info.GetBackend()), info.GetAvailable() != 0, info.GetDevice_count(),
		info.GetName(), info.GetDetail()}, nil
}

// PlatformContract is the backend's block sizes, alignments and paddings.
type PlatformContract struct {
	BlockSizeM, HiddenAlign, IntermediateAlign, BufferAlignBytes, MXBlock, FP8Block int
}

// Context is a backend and device; every other object is created on one. Close it when done (Close is safe
// to call twice; a finalizer closes a forgotten one). Objects created from it keep working after it closes.
type Context struct {
	mu sync.Mutex
	h  native.ContextHandle
}

// NewContext creates a context on `backend` and device `deviceID` (0 for CPU).
func NewContext(backend Backend, deviceID int) (*Context, error) {
	h, err := create(func() native.ContextHandle {
		return native.Mkb_context_create(native.Enum_SS_moekit_backend(backend), deviceID)
	})
	if err != nil {
		return nil, err
	}
	c := &Context{h: h}
	runtime.SetFinalizer(c, (*Context).Close)
	return c, nil
}

// Close destroys the native context. Calls on a closed Context report the library's "null handle" error.
func (c *Context) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		native.DeleteContextHandle(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

func (c *Context) handle() native.ContextHandle {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h
}

// Backend returns the backend and device the context runs on.
func (c *Context) Backend() (Backend, int, error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err := call(func() native.Enum_SS_moekit_status { return native.Mkb_context_get_backend(c.handle(), v) })
	runtime.KeepAlive(c)
	return Backend(v.GetA()), int(v.GetB()), err
}

// NumThreads is the number of CPU worker threads the context uses.
func (c *Context) NumThreads() (int, error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err := call(func() native.Enum_SS_moekit_status { return native.Mkb_context_get_num_threads(c.handle(), v) })
	runtime.KeepAlive(c)
	return int(v.GetA()), err
}

// SetNumThreads sets the number of CPU worker threads (n >= 1).
func (c *Context) SetNumThreads(n int) error {
	err := call(func() native.Enum_SS_moekit_status {
		return native.Moekit_context_set_num_threads(c.handle(), n)
	})
	runtime.KeepAlive(c)
	return err
}

// PlatformContract returns the context's platform contract.
func (c *Context) PlatformContract() (PlatformContract, error) {
	pc := native.NewPlatformContract()
	defer native.DeletePlatformContract(pc)
	err := call(func() native.Enum_SS_moekit_status {
		return native.Moekit_context_platform_contract(c.handle(), pc)
	})
	runtime.KeepAlive(c)
	return PlatformContract{pc.GetBlock_size_m(), pc.GetHidden_align(), pc.GetIntermediate_align(),
		pc.GetBuffer_align_bytes(), pc.GetMx_block(), pc.GetFp8_block()}, err
}

// PaddedSizes returns the hidden and intermediate sizes the expert runner pads to.
func (c *Context) PaddedSizes(hidden, intermediate int64) (int64, int64, error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_context_padded_sizes(c.handle(), hidden, intermediate, v)
	})
	runtime.KeepAlive(c)
	return v.GetA(), v.GetB(), err
}

// RouterGEMM computes logits[T,E] (f32) = hidden[T,H] @ wGate[E,H]^T (+ bias[E]; pass Tensor{} for none).
func (c *Context) RouterGEMM(hidden, wGate, bias, logits Tensor) error {
	var d descriptors
	defer d.free()
	hp, hd := d.bind(hidden, "hidden")
	wp, wd := d.bind(wGate, "w_gate")
	bp, bd := d.bind(bias, "bias")
	lp, ld := d.bind(logits, "logits")
	if d.err != nil {
		return d.err
	}
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_router_gemm(c.handle(), hp, hd, wp, wd, bp, bd, lp, ld, nil)
	})
	runtime.KeepAlive(c)
	return err
}

// CheckLibrary reports whether the libmoekit this program loaded has the ABI these bindings were generated
// for (an incompatible library would misread every struct). init panics with this error.
func CheckLibrary() error {
	if got, want := native.Moekit_abi_version(), native.MOEKIT_ABI_VERSION; got != want {
		return &Error{Status: StatusUnsupported, Message: fmt.Sprintf(
			"libmoekit has ABI version %d, these bindings need %d (found through pkg-config moekit and the "+
				"dynamic loader's path: check PKG_CONFIG_PATH and LD_LIBRARY_PATH)", got, want)}
	}
	return nil
}

func init() {
	if err := CheckLibrary(); err != nil {
		panic(err)
	}
}
