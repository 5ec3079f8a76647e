package moekit

import (
	"runtime"
	"sync"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// Quantizer quantizes [M,K] activations to FP8 or MXFP4 and back. Close it when done.
type Quantizer struct {
	mu     sync.Mutex
	h      native.QuantizerHandle
	ctx    *Context
	scheme QuantScheme
}

// NewQuantizer creates a quantizer (groupSize: FP8PerGroup group / FP8Block edge; 0 = 128).
func NewQuantizer(ctx *Context, scheme QuantScheme, groupSize int) (*Quantizer, error) {
	desc := native.NewQuantizerDesc()
	defer native.DeleteQuantizerDesc(desc)
	desc.SetScheme(native.Enum_SS_moekit_quant_scheme(scheme))
	desc.SetGroup_size(groupSize)
	h, err := create(func() native.QuantizerHandle { return native.Mkb_quantizer_create(ctx.handle(), desc) })
	runtime.KeepAlive(ctx)
	if err != nil {
		return nil, err
	}
	q := &Quantizer{h: h, ctx: ctx, scheme: scheme}
	runtime.SetFinalizer(q, (*Quantizer).Close)
	return q, nil
}

// Close destroys the native quantizer; later calls report the library's "null handle" error.
func (q *Quantizer) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h != nil {
		native.DeleteQuantizerHandle(q.h)
		q.h = nil
		runtime.SetFinalizer(q, nil)
	}
	return nil
}

func (q *Quantizer) handle() native.QuantizerHandle {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.h
}

// ValuesDType and ScalesDType are the dtypes of the quantized values and of the scales.
func (q *Quantizer) ValuesDType() DType {
	if q.scheme == MXFP4 {
		return FP4E2M1X2DType
	}
	return F8E4M3FNDType
}
func (q *Quantizer) ScalesDType() DType {
	if q.scheme == MXFP4 {
		return E8M0DType
	}
	return F32DType
}

// OutputShapes returns the shapes of the values and scales that quantizing a [rows, cols] input produces.
func (q *Quantizer) OutputShapes(rows, cols int64) (values, scales [2]int64, err error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err = call(func() native.Enum_SS_moekit_status {
		return native.Mkb_quantizer_output_shapes(q.handle(), rows, cols, v)
	})
	runtime.KeepAlive(q)
	return [2]int64{v.GetA(), v.GetB()}, [2]int64{v.GetC(), v.GetD()}, err
}

// Quantize writes values and scales for input [M,K] (f32, bf16 or f16).
func (q *Quantizer) Quantize(input, values, scales Tensor) error {
	var d descriptors
	defer d.free()
	ip, id := d.bind(input, "input")
	vp, vd := d.bind(values, "values")
	sp, sd := d.bind(scales, "scales")
	if d.err != nil {
		return d.err
	}
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_quantize(q.handle(), ip, id, vp, vd, sp, sd, nil)
	})
	runtime.KeepAlive(q)
	return err
}

// Dequantize writes out [M,K] (f32, bf16 or f16) = values * scales.
func (q *Quantizer) Dequantize(values, scales, out Tensor) error {
	var d descriptors
	defer d.free()
	vp, vd := d.bind(values, "values")
	sp, sd := d.bind(scales, "scales")
	op, od := d.bind(out, "output")
	if d.err != nil {
		return d.err
	}
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_dequantize(q.handle(), vp, vd, sp, sd, op, od, nil)
	})
	runtime.KeepAlive(q)
	return err
}
