package moekit_test

import (
	"math"
	"math/rand"
	"testing"

	moekit "github.com/moekit/moekit/bindings/go"
)

func newCPU(t *testing.T) *moekit.Context {
	t.Helper()
	ctx, err := moekit.NewContext(moekit.BackendCPU, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var activations = map[string]moekit.Activation{"silu_mul": moekit.SiluMul, "gelu_mul": moekit.GeluMul,
	"swiglu_oai": moekit.SwigluOAI}
var formats = map[string]moekit.WeightFormat{"bf16": moekit.WeightsBF16, "f16": moekit.WeightsF16,
	"f32": moekit.WeightsF32, "fp8_block": moekit.WeightsFP8Block, "mxfp4": moekit.WeightsMXFP4}
var scorings = map[string]moekit.Scoring{"softmax": moekit.Softmax, "sigmoid": moekit.Sigmoid}

// weightTensor is a weight of the case in the dtype the manifest names.
func weightTensor(t *testing.T, c vectorCase, name string) moekit.Tensor {
	if !c.has(name) {
		return moekit.Tensor{}
	}
	shape := c.shape(name)
	switch c.Tensors[name].DType {
	case "bfloat16":
		return moekit.BF16(c.u16(t, name), shape...)
	case "float16":
		return moekit.F16(c.u16(t, name), shape...)
	case "float32":
		return moekit.F32(c.f32(t, name), shape...)
	case "float8_e4m3fn":
		return moekit.Bytes(moekit.F8E4M3FNDType, c.bytes(t, name), shape...)
	case "float4_e2m1fn_x2":
		return moekit.Bytes(moekit.FP4E2M1X2DType, c.bytes(t, name), shape...)
	case "float8_e8m0fnu":
		return moekit.Bytes(moekit.E8M0DType, c.bytes(t, name), shape...)
	}
	t.Fatalf("%s: unexpected dtype %s", name, c.Tensors[name].DType)
	return moekit.Tensor{}
}

func TestMoELayerMatchesSharedVectors(t *testing.T) {
	for _, c := range loadCases(t, "moe_layer") {
		t.Run(c.Name, func(t *testing.T) {
			ctx := newCPU(t)
			e, k := int(c.num("num_experts")), int(c.num("top_k"))
			router, err := moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: e, TopK: k,
				Scoring: scorings[c.str("scoring")], Renormalize: c.flag("renormalize")})
			must(t, err)
			defer router.Close()
			experts, err := moekit.NewExperts(ctx, moekit.ExpertsConfig{NumExperts: e,
				HiddenSize: int64(c.num("hidden_size")), IntermediateSize: int64(c.num("intermediate_size")),
				Activation: activations[c.str("activation")], SwigluAlpha: float32(c.num("swiglu_alpha")),
				SwigluLimit: float32(c.num("swiglu_limit")), WeightFormat: formats[c.str("weight_format")],
				HasW13Bias: c.flag("biases"), HasW2Bias: c.flag("biases")})
			must(t, err)
			defer experts.Close()
			must(t, experts.SetWeights(moekit.ExpertWeights{W13: weightTensor(t, c, "w13"),
				W2: weightTensor(t, c, "w2"), W13Scale: weightTensor(t, c, "w13_scale"),
				W2Scale: weightTensor(t, c, "w2_scale"), W13Bias: weightTensor(t, c, "w13_bias"),
				W2Bias: weightTensor(t, c, "w2_bias")}))
			hs, ls := c.shape("hidden"), c.shape("logits")
			out := make([]float32, hs[0]*hs[1])
			report, err := moekit.MoEForward(router, experts, moekit.F32(c.f32(t, "hidden"), hs...),
				moekit.F32(c.f32(t, "logits"), ls...), moekit.F32(out, hs...), moekit.Tensor{})
			must(t, err)
			for i, want := range c.f32(t, "out") {
				if d := math.Abs(float64(out[i] - want)); !(d <= c.Tolerance) {
					t.Fatalf("out[%d] = %g, want %g (tolerance %g)", i, out[i], want, c.Tolerance)
				}
			}
			if report.Assignments != hs[0]*int64(k) {
				t.Errorf("report.Assignments = %d, want %d", report.Assignments, hs[0]*int64(k))
			}
			plan, err := router.NewHostPlan(int(ls[0]))
			must(t, err)
			must(t, router.Route(moekit.F32(c.f32(t, "logits"), ls...), plan.Tensors()))
			for i, want := range c.i32(t, "topk_ids") {
				if plan.TopkIDs[i] != want {
					t.Fatalf("topk_ids[%d] = %d, want %d", i, plan.TopkIDs[i], want)
				}
			}
		})
	}
}

func TestRouterMatchesSharedVectors(t *testing.T) {
	for _, c := range loadCases(t, "router") {
		t.Run(c.Name, func(t *testing.T) {
			ctx := newCPU(t)
			var bias []float32
			if c.has("correction_bias") {
				bias = c.f32(t, "correction_bias")
			}
			router, err := moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: int(c.num("num_experts")),
				TopK: int(c.num("top_k")), Scoring: scorings[c.str("scoring")], Renormalize: c.flag("renormalize"),
				NumExpertGroups: int(c.num("num_expert_groups")), TopkGroups: int(c.num("topk_groups")),
				RoutedScalingFactor: float32(c.num("routed_scaling_factor")), CorrectionBias: bias})
			must(t, err)
			defer router.Close()
			ls := c.shape("logits")
			plan, err := router.NewHostPlan(int(ls[0]))
			must(t, err)
			must(t, router.Route(moekit.F32(c.f32(t, "logits"), ls...), plan.Tensors()))
			wantIDs, wantW := c.i32(t, "topk_ids"), c.f32(t, "topk_weights")
			for i := range wantIDs {
				if plan.TopkIDs[i] != wantIDs[i] || math.Abs(float64(plan.TopkWeights[i]-wantW[i])) > c.Tolerance {
					t.Fatalf("[%d]: got (%d, %g), want (%d, %g)", i, plan.TopkIDs[i], plan.TopkWeights[i],
						wantIDs[i], wantW[i])
				}
			}
		})
	}
}

// ---- a float64 reference of an f32 softmax + SiLU layer, written from moekit.h ------------------------------

func referenceLayer(hidden, logits, w13, w2 []float32, tokens, e, k, h, inter int) []float64 {
	out := make([]float64, tokens*h)
	for t := 0; t < tokens; t++ {
		row := logits[t*e : (t+1)*e]
		maxv := math.Inf(-1)
		for _, v := range row {
			maxv = math.Max(maxv, float64(v))
		}
		scores := make([]float64, e)
		sum := 0.0
		for i, v := range row {
			scores[i] = math.Exp(float64(v) - maxv)
			sum += scores[i]
		}
		chosen := make([]int, 0, k)
		for len(chosen) < k { // top-k, ties to the lowest id
			best := -1
			for i := 0; i < e; i++ {
				taken := false
				for _, c := range chosen {
					taken = taken || c == i
				}
				if !taken && (best < 0 || scores[i] > scores[best]) {
					best = i
				}
			}
			chosen = append(chosen, best)
		}
		total := 0.0
		for _, c := range chosen {
			total += scores[c] / sum
		}
		for _, ex := range chosen {
			weight := scores[ex] / sum / total // renormalized
			act := make([]float64, inter)
			for i := 0; i < inter; i++ {
				gate, up := 0.0, 0.0
				for j := 0; j < h; j++ {
					x := float64(hidden[t*h+j])
					gate += float64(w13[(ex*2*inter+i)*h+j]) * x
					up += float64(w13[(ex*2*inter+inter+i)*h+j]) * x
				}
				act[i] = gate / (1 + math.Exp(-gate)) * up
			}
			for j := 0; j < h; j++ {
				y := 0.0
				for i := 0; i < inter; i++ {
					y += float64(w2[(ex*h+j)*inter+i]) * act[i]
				}
				out[t*h+j] += weight * y
			}
		}
	}
	return out
}

func randomF32(rng *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * scale)
	}
	return out
}

func TestMoELayerMatchesFloat64Reference(t *testing.T) {
	ctx := newCPU(t)
	const tokens, e, k, h, inter = 11, 8, 2, 48, 40
	rng := rand.New(rand.NewSource(7))
	hidden, logits := randomF32(rng, tokens*h, 1), randomF32(rng, tokens*e, 1)
	w13, w2 := randomF32(rng, e*2*inter*h, 1/math.Sqrt(h)), randomF32(rng, e*h*inter, 1/math.Sqrt(inter))
	router, err := moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: e, TopK: k, Renormalize: true})
	must(t, err)
	defer router.Close()
	experts, err := moekit.NewExperts(ctx, moekit.ExpertsConfig{NumExperts: e, HiddenSize: h,
		IntermediateSize: inter, WeightFormat: moekit.WeightsF32})
	must(t, err)
	defer experts.Close()
	must(t, experts.SetWeights(moekit.ExpertWeights{W13: moekit.F32(w13, e, 2*inter, h), W2: moekit.F32(w2, e, h, inter)}))
	out := make([]float32, tokens*h)
	_, err = moekit.MoEForward(router, experts, moekit.F32(hidden, tokens, h), moekit.F32(logits, tokens, e),
		moekit.F32(out, tokens, h), moekit.Tensor{})
	must(t, err)
	// Run with an explicit plan gives the same result.
	plan, err := router.NewHostPlan(tokens)
	must(t, err)
	must(t, router.Route(moekit.F32(logits, tokens, e), plan.Tensors()))
	out2 := make([]float32, tokens*h)
	_, err = experts.Run(moekit.F32(hidden, tokens, h), plan.Tensors(), moekit.F32(out2, tokens, h), moekit.Tensor{})
	must(t, err)
	want := referenceLayer(hidden, logits, w13, w2, tokens, e, k, h, inter)
	// f32 accumulation over H + I products: relative error ~1e-6; 2e-5 relative + 2e-6 absolute is ~10x that.
	for i := range want {
		for _, got := range []float32{out[i], out2[i]} {
			if d := math.Abs(float64(got) - want[i]); d > 2e-5*math.Abs(want[i])+2e-6 {
				t.Fatalf("out[%d] = %g, want %g", i, got, want[i])
			}
		}
	}
}
