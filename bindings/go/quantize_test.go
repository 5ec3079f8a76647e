package moekit_test

import (
	"bytes"
	"math"
	"math/rand"
	"testing"

	moekit "github.com/moekit/moekit/bindings/go"
)

var schemes = map[string]moekit.QuantScheme{"fp8_per_tensor": moekit.FP8PerTensor,
	"fp8_per_token": moekit.FP8PerToken, "fp8_per_group": moekit.FP8PerGroup, "fp8_block": moekit.FP8Block,
	"mxfp4": moekit.MXFP4}

func TestQuantizeMatchesSharedVectors(t *testing.T) {
	for _, c := range loadCases(t, "quantize") {
		t.Run(c.Name, func(t *testing.T) {
			ctx := newCPU(t)
			q, err := moekit.NewQuantizer(ctx, schemes[c.str("scheme")], int(c.num("group_size")))
			must(t, err)
			defer q.Close()
			in := c.shape("input")
			vs, ss := c.shape("values"), c.shape("scales")
			values := make([]byte, vs[0]*vs[1])
			scales := make([]byte, ss[0]*ss[1]*q.ScalesDType().Size())
			scalesT := moekit.Bytes(q.ScalesDType(), scales, ss...)
			if q.ScalesDType() == moekit.F32DType {
				f := make([]float32, ss[0]*ss[1])
				scalesT = moekit.F32(f, ss...)
				defer func() { // compare the bits of the f32 scales
					for i, v := range f {
						b := math.Float32bits(v)
						scales[4*i], scales[4*i+1], scales[4*i+2], scales[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
					}
					if !bytes.Equal(scales, c.bytes(t, "scales")) {
						t.Fatalf("scales differ")
					}
				}()
			}
			must(t, q.Quantize(moekit.F32(c.f32(t, "input"), in...), moekit.Bytes(q.ValuesDType(), values, vs...), scalesT))
			if !bytes.Equal(values, c.bytes(t, "values")) {
				t.Fatalf("values differ")
			}
			if q.ScalesDType() != moekit.F32DType && !bytes.Equal(scales, c.bytes(t, "scales")) {
				t.Fatalf("scales differ")
			}
		})
	}
}

func TestFP8RoundTripWithinFormatBound(t *testing.T) {
	ctx := newCPU(t)
	q, err := moekit.NewQuantizer(ctx, moekit.FP8PerToken, 0)
	must(t, err)
	defer q.Close()
	const m, k = 4, 160
	rng := rand.New(rand.NewSource(3))
	x := randomF32(rng, m*k, 5)
	vshape, sshape, err := q.OutputShapes(m, k)
	must(t, err)
	values, scales, y := make([]byte, m*k), make([]float32, sshape[0]*sshape[1]), make([]float32, m*k)
	must(t, q.Quantize(moekit.F32(x, m, k), moekit.Bytes(moekit.F8E4M3FNDType, values, vshape[:]...),
		moekit.F32(scales, sshape[:]...)))
	must(t, q.Dequantize(moekit.Bytes(moekit.F8E4M3FNDType, values, vshape[:]...), moekit.F32(scales, sshape[:]...),
		moekit.F32(y, m, k)))
	for r := 0; r < m; r++ {
		amax := 0.0
		for _, v := range x[r*k : (r+1)*k] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		if want := float32(amax) * float32(1.0/448.0); scales[r] != want {
			t.Fatalf("scale[%d] = %g, want amax/448 = %g", r, scales[r], want)
		}
		for i := r * k; i < (r+1)*k; i++ {
			// E4M3: 3 mantissa bits -> relative error <= 2^-4; below the normals, absolute <= 2^-10 * scale.
			bound := math.Max(math.Abs(float64(x[i]))/16, float64(scales[r])/1024) * (1 + 1e-6)
			if d := math.Abs(float64(y[i] - x[i])); d > bound {
				t.Fatalf("y[%d] = %g, x = %g: error %g > %g", i, y[i], x[i], d, bound)
			}
		}
	}
}

func TestMXFP4RoundTripWithinFormatBound(t *testing.T) {
	ctx := newCPU(t)
	q, err := moekit.NewQuantizer(ctx, moekit.MXFP4, 0)
	must(t, err)
	defer q.Close()
	const m, k = 3, 64
	x := randomF32(rand.New(rand.NewSource(5)), m*k, 2)
	values, scales, y := make([]byte, m*k/2), make([]byte, m*k/32), make([]float32, m*k)
	vt, st := moekit.Bytes(moekit.FP4E2M1X2DType, values, m, k/2), moekit.Bytes(moekit.E8M0DType, scales, m, k/32)
	must(t, q.Quantize(moekit.F32(x, m, k), vt, st))
	must(t, q.Dequantize(vt, st, moekit.F32(y, m, k)))
	for i := range x {
		// Scaled by 2^X a block lies in [0, 8): rounding errs <= 1 * 2^X, saturating to 6 <= 2 * 2^X.
		unit := math.Exp2(float64(scales[(i/k)*(k/32)+(i%k)/32]) - 127)
		if d := math.Abs(float64(y[i] - x[i])); d > 2*unit {
			t.Fatalf("y[%d] = %g, x = %g, unit %g", i, y[i], x[i], unit)
		}
	}
}
