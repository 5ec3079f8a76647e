package moekit_test

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	moekit "github.com/moekit/moekit/bindings/go"
)

const sentinel = 0x5A5A5A5A

type smallLayer struct {
	router  *moekit.Router
	experts *moekit.Experts
	hidden  []float32
	logits  []float32
}

const lt, le, lh = 5, 4, 32

func newSmallLayer(t *testing.T) smallLayer {
	ctx := newCPU(t)
	router, err := moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: le, TopK: 2, Renormalize: true})
	must(t, err)
	t.Cleanup(func() { router.Close() })
	experts, err := moekit.NewExperts(ctx, moekit.ExpertsConfig{NumExperts: le, HiddenSize: lh,
		IntermediateSize: lh, WeightFormat: moekit.WeightsF32})
	must(t, err)
	t.Cleanup(func() { experts.Close() })
	must(t, experts.SetWeights(moekit.ExpertWeights{W13: moekit.F32(make([]float32, le*2*lh*lh), le, 2*lh, lh),
		W2: moekit.F32(make([]float32, le*lh*lh), le, lh, lh)}))
	return smallLayer{router, experts, make([]float32, lt*lh), make([]float32, lt*le)}
}

func sentinelOut(n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = sentinel
	}
	return out
}

// sentinelF32 is an f32 output filled with the sentinel bit pattern (checked with untouchedF32).
func sentinelF32(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(sentinel)
	}
	return out
}

func untouched(t *testing.T, out []uint32) {
	t.Helper()
	for i, v := range out {
		if v != sentinel {
			t.Fatalf("output[%d] was written (%#x) by a failed call", i, v)
		}
	}
}

func untouchedF32(t *testing.T, out []float32) {
	t.Helper()
	for i, v := range out {
		if math.Float32bits(v) != sentinel {
			t.Fatalf("output[%d] was written (%g) by a failed call", i, v)
		}
	}
}

// libraryError checks err is an *Error of `status` whose message names `argument` first.
func libraryError(t *testing.T, err error, status moekit.Status, argument string) *moekit.Error {
	t.Helper()
	var e *moekit.Error
	if !errors.As(err, &e) {
		t.Fatalf("want an *moekit.Error, got %T %v", err, err)
	}
	if e.Status != status || !strings.HasPrefix(e.Message, argument+":") {
		t.Fatalf("want status %v naming %q, got %v %q", status, argument, e.Status, e.Message)
	}
	if !errors.Is(err, &moekit.Error{Status: status}) {
		t.Fatalf("errors.Is does not match the status sentinel")
	}
	return e
}

func TestBadDTypeLeavesOutputUntouched(t *testing.T) {
	l := newSmallLayer(t)
	out := sentinelOut(lt * lh)
	// u32 hidden and out: the library names hidden's dtype.
	_, err := moekit.MoEForward(l.router, l.experts, moekit.U32(make([]uint32, lt*lh), lt, lh),
		moekit.F32(l.logits, lt, le), moekit.U32(out, lt, lh), moekit.Tensor{})
	e := libraryError(t, err, moekit.StatusInvalidArgument, "hidden")
	if !errors.Is(err, moekit.ErrInvalidArgument) || !strings.Contains(e.Message, "uint32") {
		t.Fatalf("unexpected error %v", err)
	}
	untouched(t, out)
}

func TestBadShapeLeavesPlanUntouched(t *testing.T) {
	l := newSmallLayer(t)
	ids := sentinelOut(lt * 2)
	weights := sentinelOut(lt * 2)
	wide := make([]float32, lt*(le+1))
	err := l.router.Route(moekit.F32(wide, lt, le+1), moekit.RoutingPlan{
		TopkWeights: moekit.U32(weights, lt, 2), TopkIDs: moekit.U32(ids, lt, 2)})
	libraryError(t, err, moekit.StatusInvalidArgument, "logits")
	untouched(t, ids)
	untouched(t, weights)
}

func TestWrongDeviceIsRejectedByTheLibrary(t *testing.T) {
	l := newSmallLayer(t)
	out := sentinelF32(lt * lh)
	// A device address the CPU context must reject without ever dereferencing it.
	onGPU := moekit.OnDevice(0x10000, moekit.F32DType, moekit.CUDA, 0, lt, lh)
	_, err := moekit.MoEForward(l.router, l.experts, onGPU, moekit.F32(l.logits, lt, le),
		moekit.F32(out, lt, lh), moekit.Tensor{})
	e := libraryError(t, err, moekit.StatusInvalidArgument, "hidden")
	if !strings.Contains(strings.ToLower(e.Message), "cuda") {
		t.Fatalf("message does not name the device: %q", e.Message)
	}
	untouchedF32(t, out)
}

func TestClosedHandleAndCloseTwice(t *testing.T) {
	l := newSmallLayer(t)
	must(t, l.router.Close())
	must(t, l.router.Close()) // a no-op
	out := sentinelF32(lt * lh)
	_, err := moekit.MoEForward(l.router, l.experts, moekit.F32(l.hidden, lt, lh), moekit.F32(l.logits, lt, le),
		moekit.F32(out, lt, lh), moekit.Tensor{})
	libraryError(t, err, moekit.StatusInvalidArgument, "router")
	untouchedF32(t, out)
}

func TestClosedContextCannotCreate(t *testing.T) {
	ctx, err := moekit.NewContext(moekit.BackendCPU, 0)
	must(t, err)
	must(t, ctx.Close())
	_, err = moekit.NewQuantizer(ctx, moekit.FP8PerToken, 0)
	libraryError(t, err, moekit.StatusInvalidArgument, "ctx")
}

func TestSliceShorterThanShapeIsRejectedBeforeTheCall(t *testing.T) {
	l := newSmallLayer(t)
	out := sentinelF32(lt * lh)
	_, err := moekit.MoEForward(l.router, l.experts, moekit.F32(l.hidden[:7], lt, lh),
		moekit.F32(l.logits, lt, le), moekit.F32(out, lt, lh), moekit.Tensor{})
	libraryError(t, err, moekit.StatusInvalidArgument, "hidden")
	untouchedF32(t, out)
}

func TestBadConfigFromTheFactory(t *testing.T) {
	ctx := newCPU(t)
	_, err := moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: 4, TopK: 5})
	var e *moekit.Error
	if !errors.As(err, &e) || e.Status != moekit.StatusInvalidArgument || !strings.Contains(e.Message, "top_k") {
		t.Fatalf("got %v", err)
	}
	_, err = moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: 4, TopK: 1, CorrectionBias: make([]float32, 3)})
	libraryError(t, err, moekit.StatusInvalidArgument, "correction_bias")
}

func TestUnavailableBackend(t *testing.T) {
	info, err := moekit.QueryBackend(moekit.BackendCUDA)
	must(t, err)
	if info.Available {
		t.Skip("a CUDA backend is available here")
	}
	_, err = moekit.NewContext(moekit.BackendCUDA, 0)
	if !errors.Is(err, moekit.ErrBackendUnavailable) {
		t.Fatalf("got %v", err)
	}
}

func TestStatusNames(t *testing.T) {
	for s := moekit.StatusInvalidArgument; s <= moekit.StatusInternal; s++ {
		if s.String() == "unknown status" || s.String() == "" {
			t.Fatalf("status %d has no name", s)
		}
	}
}

func TestFinalizersReleaseForgottenHandles(t *testing.T) {
	// Objects dropped without Close are destroyed by their finalizers (run under the race-free default
	// cgocheck; a double destroy would trip the library's handle check or the allocator).
	for i := 0; i < 200; i++ {
		ctx, err := moekit.NewContext(moekit.BackendCPU, 0)
		must(t, err)
		_, err = moekit.NewQuantizer(ctx, moekit.FP8PerToken, 0)
		must(t, err)
	}
	runtime.GC()
	runtime.GC()
}
