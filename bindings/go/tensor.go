package moekit

import (
	"fmt"
	"unsafe"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// Tensor describes memory the caller owns: a Go slice (host memory, passed to the library without a copy and
// only for the duration of a call, as cgo's pointer rules require) or a device address. The zero Tensor is
// "absent" (an optional argument not given). Shapes are row-major and contiguous.
type Tensor struct {
	ptr      unsafe.Pointer // host: the slice's first element; nil for an empty slice
	device   uintptr        // device: the address
	dtype    DType
	shape    []int64
	where    DeviceType
	deviceID int32
	present  bool
	err      error // a mistake found when the tensor was made; reported, with the argument's name, by the call
}

// DType, Shape and Device describe the tensor.
func (t Tensor) DType() DType       { return t.dtype }
func (t Tensor) Shape() []int64     { return append([]int64(nil), t.shape...) }
func (t Tensor) Device() DeviceType { return t.where }

func hostTensor(dtype DType, ptr unsafe.Pointer, length int, shape []int64) Tensor {
	t := Tensor{ptr: ptr, dtype: dtype, shape: append([]int64(nil), shape...), where: CPU, present: true}
	if n, ok := elements(shape); !ok {
		t.err = fmt.Errorf("shape %v is negative or overflows", shape)
	} else if n != int64(length) {
		// The library trusts shapes: a slice shorter than its shape would be read or written past its end.
		t.err = fmt.Errorf("shape %v has %d elements but the slice has %d", shape, n, length)
	}
	return t
}

func elements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, s := range shape {
		if s < 0 || (s > 0 && n > (1<<62)/s) {
			return 0, false
		}
		n *= s
	}
	return n, true
}

func first[T any](data []T) unsafe.Pointer {
	if len(data) == 0 {
		return nil
	}
	return unsafe.Pointer(&data[0])
}

// F32 is a float32 host tensor of `shape` over data (len(data) must equal the shape's element count).
func F32(data []float32, shape ...int64) Tensor {
	return hostTensor(F32DType, first(data), len(data), shape)
}

// F16 and BF16 are half-precision host tensors over their raw 16-bit patterns.
func F16(data []uint16, shape ...int64) Tensor {
	return hostTensor(F16DType, first(data), len(data), shape)
}
func BF16(data []uint16, shape ...int64) Tensor {
	return hostTensor(BF16DType, first(data), len(data), shape)
}

// I32, I64 and U32 are integer host tensors.
func I32(data []int32, shape ...int64) Tensor {
	return hostTensor(I32DType, first(data), len(data), shape)
}
func I64(data []int64, shape ...int64) Tensor {
	return hostTensor(I64DType, first(data), len(data), shape)
}
func U32(data []uint32, shape ...int64) Tensor {
	return hostTensor(U32DType, first(data), len(data), shape)
}

// Bytes is a host tensor of a one-byte dtype (U8, FP8, E8M0, FP4E2M1X2) over raw encodings.
func Bytes(dtype DType, data []byte, shape ...int64) Tensor {
	t := hostTensor(dtype, first(data), len(data), shape)
	if t.err == nil && dtype.Size() != 1 {
		t.err = fmt.Errorf("Bytes takes a one-byte dtype, got %s", dtype)
	}
	return t
}

// OnDevice describes device memory at `address` (e.g. a cudaMalloc result) on device (kind, id).
func OnDevice(address uintptr, dtype DType, kind DeviceType, id int32, shape ...int64) Tensor {
	t := Tensor{device: address, dtype: dtype, shape: append([]int64(nil), shape...), where: kind, deviceID: id,
		present: true}
	if _, ok := elements(shape); !ok {
		t.err = fmt.Errorf("shape %v is negative or overflows", shape)
	}
	return t
}

// descriptors owns the C-allocated descriptors of one call and frees them afterwards.
type descriptors struct {
	list []native.TensorDesc
	err  error
}

// bind is a tensor's (address, descriptor) pair; absent tensors give (nil, nil). The first mistake found is
// kept in d.err (checked before calling).
func (d *descriptors) bind(t Tensor, name string) (unsafe.Pointer, native.TensorDesc) {
	if !t.present {
		return nil, nil
	}
	if t.err != nil {
		if d.err == nil {
			d.err = invalidf("%s: %v", name, t.err)
		}
		return nil, nil
	}
	desc := native.NewTensorDesc(native.Enum_SS_moekit_dtype(t.dtype), len(t.shape),
		native.Enum_SS_moekit_device_type(t.where), int(t.deviceID))
	d.list = append(d.list, desc)
	stride := int64(1)
	for axis := len(t.shape) - 1; axis >= 0; axis-- {
		desc.Set_dim(axis, t.shape[axis], stride)
		if t.shape[axis] > 0 {
			stride *= t.shape[axis]
		}
	}
	if t.where == CPU {
		return t.ptr, desc
	}
	return unsafe.Pointer(t.device), desc // a device address, never Go memory
}

func (d *descriptors) free() {
	for _, desc := range d.list {
		native.DeleteTensorDesc(desc)
	}
	d.list = nil
}
