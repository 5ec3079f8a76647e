// One Mixture-of-Experts layer with moekit from Go: route tokens to experts, run them, look at the result.
//
//	cd bindings/go && ./build.sh && go run ./examples/moe_layer     (PKG_CONFIG_PATH must find moekit.pc)
package main

import (
	"errors"
	"fmt"
	"math/rand"
	"os"

	moekit "github.com/moekit/moekit/bindings/go"
)

const tokens, numExperts, topK, hidden, intermediate = 16, 8, 2, 64, 128

func random(rng *rand.Rand, n int, scale float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64()) * scale
	}
	return out
}

func run() error {
	ctx, err := moekit.NewContext(moekit.BackendCPU, 0)
	if err != nil {
		return err
	}
	defer ctx.Close()
	router, err := moekit.NewRouter(ctx, moekit.RouterConfig{NumExperts: numExperts, TopK: topK, Renormalize: true})
	if err != nil {
		return err
	}
	defer router.Close()
	experts, err := moekit.NewExperts(ctx, moekit.ExpertsConfig{NumExperts: numExperts, HiddenSize: hidden,
		IntermediateSize: intermediate, Activation: moekit.SiluMul, WeightFormat: moekit.WeightsF32})
	if err != nil {
		return err
	}
	defer experts.Close()

	rng := rand.New(rand.NewSource(0))
	// w13 stacks each expert's gate and up projections; w2 is the down projection.
	w13 := random(rng, numExperts*2*intermediate*hidden, 0.1)
	w2 := random(rng, numExperts*hidden*intermediate, 0.1)
	if err := experts.SetWeights(moekit.ExpertWeights{W13: moekit.F32(w13, numExperts, 2*intermediate, hidden),
		W2: moekit.F32(w2, numExperts, hidden, intermediate)}); err != nil {
		return err
	}
	x, logits := random(rng, tokens*hidden, 1), random(rng, tokens*numExperts, 1)
	out := make([]float32, tokens*hidden) // the Go slices are passed to the library without copies
	report, err := moekit.MoEForward(router, experts, moekit.F32(x, tokens, hidden),
		moekit.F32(logits, tokens, numExperts), moekit.F32(out, tokens, hidden), moekit.Tensor{})
	if err != nil {
		return err
	}
	fmt.Printf("moekit %s: out [%d %d], kernel %s, %d assignments\n", moekit.Version(), tokens, hidden,
		report.Kernel, report.Assignments)
	fmt.Printf("out[0][:4] = %v\n", out[:4])

	// Errors carry the status and the library's message.
	_, err = moekit.MoEForward(router, experts, moekit.F32(x, tokens, hidden),
		moekit.F32(logits[:tokens*4], tokens, 4), moekit.F32(out, tokens, hidden), moekit.Tensor{})
	var e *moekit.Error
	if errors.As(err, &e) {
		fmt.Printf("expected failure: status %q, message %q\n", e.Status, e.Message)
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
