package moekit

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// RouterConfig is moekit_router_desc. Zero values mean the C defaults (RoutedScalingFactor 0 means 1).
type RouterConfig struct {
	NumExperts          int
	TopK                int
	Scoring             Scoring
	Renormalize         bool
	NumExpertGroups     int
	TopkGroups          int
	RoutedScalingFactor float32
	CorrectionBias      []float32 // optional, NumExperts values (copied at creation)
	ExpertMap           []int32   // optional, NumExperts values: global id -> local id, -1 = not local
	BlockSize           int       // 0 = the platform contract's
}

// RoutingPlan is the set of buffers of a moekit_routing; leave a field as Tensor{} to skip it.
type RoutingPlan struct {
	TopkWeights, TopkIDs, Bitmatrix, ExpertCounts, SortedTokenIDs, BlockExpertIDs, NumTokensPostPadded Tensor
}

// HostPlan is a routing plan in Go slices, sized for a number of tokens by Router.NewHostPlan.
type HostPlan struct {
	Tokens, TopK, NumExperts int
	TopkWeights              []float32 // [T,k]
	TopkIDs                  []int32   // [T,k]
	Bitmatrix                []uint32  // [T, ceil(E/32)]
	ExpertCounts             []int32   // [E]
	SortedTokenIDs           []int32   // [max_sorted]
	BlockExpertIDs           []int32   // [max_blocks]
	NumTokensPostPadded      []int32   // [1]
}

// Tensors describes the plan's slices for Route, BuildPlan and Experts.Run.
func (p *HostPlan) Tensors() RoutingPlan {
	t, k, words := int64(p.Tokens), int64(p.TopK), int64((p.NumExperts+31)/32)
	return RoutingPlan{
		TopkWeights:         F32(p.TopkWeights, t, k),
		TopkIDs:             I32(p.TopkIDs, t, k),
		Bitmatrix:           U32(p.Bitmatrix, t, words),
		ExpertCounts:        I32(p.ExpertCounts, int64(p.NumExperts)),
		SortedTokenIDs:      I32(p.SortedTokenIDs, int64(len(p.SortedTokenIDs))),
		BlockExpertIDs:      I32(p.BlockExpertIDs, int64(len(p.BlockExpertIDs))),
		NumTokensPostPadded: I32(p.NumTokensPostPadded, 1),
	}
}

// planArgs are the 14 (address, descriptor) arguments of a plan, in moekit_routing's order.
type planArgs struct {
	p [7]unsafe.Pointer
	d [7]native.TensorDesc
}

func bindPlan(d *descriptors, plan RoutingPlan) planArgs {
	var a planArgs
	fields := [7]struct {
		t    Tensor
		name string
	}{{plan.TopkWeights, "topk_weights"}, {plan.TopkIDs, "topk_ids"}, {plan.Bitmatrix, "bitmatrix"},
		{plan.ExpertCounts, "expert_counts"}, {plan.SortedTokenIDs, "sorted_token_ids"},
		{plan.BlockExpertIDs, "block_expert_ids"}, {plan.NumTokensPostPadded, "num_tokens_post_padded"}}
	for i, f := range fields {
		a.p[i], a.d[i] = d.bind(f.t, f.name)
	}
	return a
}

// Router turns logits into routing plans. Close it when done (safe twice; a finalizer is the safety net).
type Router struct {
	mu         sync.Mutex
	h          native.RouterHandle
	ctx        *Context
	numExperts int
	topK       int
}

// NewRouter creates a router on ctx.
func NewRouter(ctx *Context, cfg RouterConfig) (*Router, error) {
	for _, v := range []struct {
		name string
		n    int
	}{{"correction_bias", len(cfg.CorrectionBias)}, {"expert_map", len(cfg.ExpertMap)}} {
		if v.n != 0 && v.n != cfg.NumExperts {
			// The library reads NumExperts values from these arrays: a shorter slice would be overread.
			return nil, invalidf("%s: has %d values, num_experts is %d", v.name, v.n, cfg.NumExperts)
		}
	}
	desc := native.NewRouterDesc()
	defer native.DeleteRouterDesc(desc)
	desc.SetNum_experts(cfg.NumExperts)
	desc.SetTop_k(cfg.TopK)
	desc.SetScoring(native.Enum_SS_moekit_scoring(cfg.Scoring))
	desc.SetRenormalize(boolInt(cfg.Renormalize))
	desc.SetNum_expert_groups(cfg.NumExpertGroups)
	desc.SetTopk_groups(cfg.TopkGroups)
	if cfg.RoutedScalingFactor != 0 {
		desc.SetRouted_scaling_factor(cfg.RoutedScalingFactor)
	}
	desc.SetBlock_size(cfg.BlockSize)
	h, err := create(func() native.RouterHandle {
		return native.Mkb_router_create(ctx.handle(), desc, first(cfg.CorrectionBias), first(cfg.ExpertMap))
	})
	runtime.KeepAlive(ctx)
	if err != nil {
		return nil, err
	}
	r := &Router{h: h, ctx: ctx, numExperts: cfg.NumExperts, topK: cfg.TopK}
	runtime.SetFinalizer(r, (*Router).Close)
	return r, nil
}

// Close destroys the native router; later calls report the library's "null handle" error.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h != nil {
		native.DeleteRouterHandle(r.h)
		r.h = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

func (r *Router) handle() native.RouterHandle {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h
}

// PlanSizes returns the block size and the sorted-order buffer sizes for numTokens tokens.
func (r *Router) PlanSizes(numTokens int64) (blockSize int, maxSorted, maxBlocks int64, err error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err = call(func() native.Enum_SS_moekit_status { return native.Mkb_router_plan_sizes(r.handle(), numTokens, v) })
	runtime.KeepAlive(r)
	return int(v.GetA()), v.GetB(), v.GetC(), err
}

// NewHostPlan allocates a full routing plan (with the sorted order) for numTokens tokens.
func (r *Router) NewHostPlan(numTokens int) (*HostPlan, error) {
	_, maxSorted, maxBlocks, err := r.PlanSizes(int64(numTokens))
	if err != nil {
		return nil, err
	}
	e, k := r.numExperts, r.topK
	return &HostPlan{Tokens: numTokens, TopK: k, NumExperts: e,
		TopkWeights: make([]float32, numTokens*k), TopkIDs: make([]int32, numTokens*k),
		Bitmatrix: make([]uint32, numTokens*((e+31)/32)), ExpertCounts: make([]int32, e),
		SortedTokenIDs: make([]int32, maxSorted), BlockExpertIDs: make([]int32, maxBlocks),
		NumTokensPostPadded: make([]int32, 1)}, nil
}

// Route routes logits [T,E] (f32, bf16 or f16) into the plan's buffers.
func (r *Router) Route(logits Tensor, plan RoutingPlan) error {
	var d descriptors
	defer d.free()
	lp, ld := d.bind(logits, "logits")
	a := bindPlan(&d, plan)
	if d.err != nil {
		return d.err
	}
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_router_run(r.handle(), lp, ld, a.p[0], a.d[0], a.p[1], a.d[1], a.p[2], a.d[2], a.p[3],
			a.d[3], a.p[4], a.d[4], a.p[5], a.d[5], a.p[6], a.d[6], nil)
	})
	runtime.KeepAlive(r)
	return err
}

// BuildPlan fills the metadata (bitmatrix, counts, sorted order) of plan from its caller-chosen TopkIDs.
func (r *Router) BuildPlan(plan RoutingPlan) error {
	var d descriptors
	defer d.free()
	a := bindPlan(&d, plan)
	if d.err != nil {
		return d.err
	}
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_router_build_plan(r.handle(), a.p[0], a.d[0], a.p[1], a.d[1], a.p[2], a.d[2], a.p[3],
			a.d[3], a.p[4], a.d[4], a.p[5], a.d[5], a.p[6], a.d[6], nil)
	})
	runtime.KeepAlive(r)
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
