package moekit

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/moekit/moekit/bindings/go/internal/native"
)

// ExpertsConfig is moekit_experts_desc. Zero SwigluAlpha / SwigluLimit mean the gpt-oss defaults (1.702, 7).
type ExpertsConfig struct {
	NumExperts               int
	NumLocalExperts          int // 0 = NumExperts
	HiddenSize               int64
	IntermediateSize         int64
	Activation               Activation
	SwigluAlpha, SwigluLimit float32
	WeightFormat             WeightFormat
	ActQuant                 ActQuant
	HasW13Bias, HasW2Bias    bool
	ApplyRouterWeightOnInput bool
	ExpertMap                []int32 // optional, NumExperts values (copied at creation)
}

// ExpertWeights are the per-local-expert weights (see moekit_expert_weights); leave unused ones as Tensor{}.
type ExpertWeights struct {
	W13, W2, W13Scale, W2Scale, W13Bias, W2Bias Tensor
}

// RunReport is what a run did.
type RunReport struct {
	Assignments, NonLocalAssignments, InvalidAssignments int64
	ExpertsTouched                                       int
	Kernel                                               string // the kernel path that ran
	Detail                                               string // its configuration and why it was chosen
}

// Experts runs the expert MLPs of a MoE layer. Close it when done.
type Experts struct {
	mu            sync.Mutex
	h             native.ExpertsHandle
	ctx           *Context
	hostWorkspace bool // the workspace lives where the backend computes
	align         int
}

// NewExperts creates an expert runner on ctx; give it weights with SetWeights.
func NewExperts(ctx *Context, cfg ExpertsConfig) (*Experts, error) {
	if len(cfg.ExpertMap) != 0 && len(cfg.ExpertMap) != cfg.NumExperts {
		return nil, invalidf("expert_map: has %d values, num_experts is %d", len(cfg.ExpertMap), cfg.NumExperts)
	}
	backend, _, err := ctx.Backend()
	if err != nil {
		return nil, err
	}
	contract, err := ctx.PlatformContract()
	if err != nil {
		return nil, err
	}
	desc := native.NewExpertsDesc()
	defer native.DeleteExpertsDesc(desc)
	desc.SetNum_experts(cfg.NumExperts)
	local := cfg.NumLocalExperts
	if local == 0 {
		local = cfg.NumExperts
	}
	desc.SetNum_local_experts(local)
	desc.SetHidden_size(cfg.HiddenSize)
	desc.SetIntermediate_size(cfg.IntermediateSize)
	desc.SetActivation(native.Enum_SS_moekit_activation(cfg.Activation))
	if cfg.SwigluAlpha != 0 {
		desc.SetSwiglu_alpha(cfg.SwigluAlpha)
	}
	if cfg.SwigluLimit != 0 {
		desc.SetSwiglu_limit(cfg.SwigluLimit)
	}
	desc.SetWeight_format(native.Enum_SS_moekit_weight_format(cfg.WeightFormat))
	desc.SetAct_quant(native.Enum_SS_moekit_act_quant(cfg.ActQuant))
	desc.SetHas_w13_bias(boolInt(cfg.HasW13Bias))
	desc.SetHas_w2_bias(boolInt(cfg.HasW2Bias))
	desc.SetApply_router_weight_on_input(boolInt(cfg.ApplyRouterWeightOnInput))
	h, err := create(func() native.ExpertsHandle {
		return native.Mkb_experts_create(ctx.handle(), desc, first(cfg.ExpertMap))
	})
	runtime.KeepAlive(ctx)
	if err != nil {
		return nil, err
	}
	e := &Experts{h: h, ctx: ctx, hostWorkspace: backend == BackendCPU, align: contract.BufferAlignBytes}
	runtime.SetFinalizer(e, (*Experts).Close)
	return e, nil
}

// Close destroys the native expert runner; later calls report the library's "null handle" error.
func (e *Experts) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.h != nil {
		native.DeleteExpertsHandle(e.h)
		e.h = nil
		runtime.SetFinalizer(e, nil)
	}
	return nil
}

func (e *Experts) handle() native.ExpertsHandle {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.h
}

// SetWeights copies the weights into the runner's layout (the slices may be reused afterwards).
func (e *Experts) SetWeights(w ExpertWeights) error {
	var d descriptors
	defer d.free()
	p13, d13 := d.bind(w.W13, "w13")
	p2, d2 := d.bind(w.W2, "w2")
	p13s, d13s := d.bind(w.W13Scale, "w13_scale")
	p2s, d2s := d.bind(w.W2Scale, "w2_scale")
	p13b, d13b := d.bind(w.W13Bias, "w13_bias")
	p2b, d2b := d.bind(w.W2Bias, "w2_bias")
	if d.err != nil {
		return d.err
	}
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_experts_set_weights(e.handle(), p13, d13, p2, d2, p13s, d13s, p2s, d2s, p13b, d13b, p2b,
			d2b, nil)
	})
	runtime.KeepAlive(e)
	return err
}

// WorkspaceSize is the workspace Run needs for numTokens tokens with topK experts each.
func (e *Experts) WorkspaceSize(numTokens int64, topK int) (int64, error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_experts_workspace_size(e.handle(), numTokens, topK, v)
	})
	runtime.KeepAlive(e)
	return v.GetA(), err
}

// workspace returns the workspace to pass: the caller's, or for a CPU context an aligned Go buffer.
func (e *Experts) workspace(given Tensor, size func() (int64, error)) (unsafe.Pointer, int64, []byte, error) {
	if given.present {
		if given.err != nil {
			return nil, 0, nil, invalidf("workspace: %v", given.err)
		}
		n, _ := elements(given.shape)
		if given.where == CPU {
			return given.ptr, n * given.dtype.Size(), nil, nil
		}
		return unsafe.Pointer(given.device), n * given.dtype.Size(), nil, nil // a device address
	}
	if !e.hostWorkspace {
		return nil, 0, nil, nil // the library reports a missing device workspace by name
	}
	n, err := size()
	if err != nil || n == 0 {
		return nil, 0, nil, err
	}
	buf := make([]byte, n+int64(e.align))
	offset := 0
	if e.align > 0 {
		offset = int((uintptr(e.align) - uintptr(unsafe.Pointer(&buf[0]))%uintptr(e.align)) % uintptr(e.align))
	}
	return unsafe.Pointer(&buf[offset]), n, buf, nil
}

// Run computes out[T,H] = sum_j topk_weights[t,j] * expert_{topk_ids[t,j]}(hidden[t]) for the plan's
// TopkWeights/TopkIDs. workspace: Tensor{} to have one allocated (CPU contexts), or a caller's buffer.
func (e *Experts) Run(hidden Tensor, plan RoutingPlan, out Tensor, workspace Tensor) (RunReport, error) {
	var d descriptors
	defer d.free()
	hp, hd := d.bind(hidden, "hidden")
	a := bindPlan(&d, plan)
	op, od := d.bind(out, "out")
	if d.err != nil {
		return RunReport{}, d.err
	}
	topK := 0
	if len(plan.TopkIDs.shape) == 2 {
		topK = int(plan.TopkIDs.shape[1])
	}
	tokens := int64(0)
	if len(hidden.shape) > 0 {
		tokens = hidden.shape[0]
	}
	wp, wn, keep, err := e.workspace(workspace, func() (int64, error) { return e.WorkspaceSize(tokens, topK) })
	if err != nil {
		return RunReport{}, err
	}
	report := native.NewRunReport()
	defer native.DeleteRunReport(report)
	err = call(func() native.Enum_SS_moekit_status {
		return native.Mkb_experts_run(e.handle(), hp, hd, a.p[0], a.d[0], a.p[1], a.d[1], a.p[2], a.d[2], a.p[3],
			a.d[3], a.p[4], a.d[4], a.p[5], a.d[5], a.p[6], a.d[6], op, od, wp, wn, report, nil)
	})
	runtime.KeepAlive(keep)
	runtime.KeepAlive(e)
	return toReport(report), err
}

// MoEForwardWorkspaceSize is the workspace MoEForward needs for numTokens tokens.
func MoEForwardWorkspaceSize(r *Router, e *Experts, numTokens int64) (int64, error) {
	v := native.NewValues()
	defer native.DeleteValues(v)
	err := call(func() native.Enum_SS_moekit_status {
		return native.Mkb_moe_forward_workspace_size(r.handle(), e.handle(), numTokens, v)
	})
	runtime.KeepAlive(r)
	runtime.KeepAlive(e)
	return v.GetA(), err
}

// MoEForward runs one MoE layer: routes logits [T,E], then runs the experts on hidden [T,H] into out [T,H].
func MoEForward(r *Router, e *Experts, hidden, logits, out, workspace Tensor) (RunReport, error) {
	var d descriptors
	defer d.free()
	hp, hd := d.bind(hidden, "hidden")
	lp, ld := d.bind(logits, "logits")
	op, od := d.bind(out, "out")
	if d.err != nil {
		return RunReport{}, d.err
	}
	tokens := int64(0)
	if len(hidden.shape) > 0 {
		tokens = hidden.shape[0]
	}
	wp, wn, keep, err := e.workspace(workspace, func() (int64, error) { return MoEForwardWorkspaceSize(r, e, tokens) })
	if err != nil {
		return RunReport{}, err
	}
	report := native.NewRunReport()
	defer native.DeleteRunReport(report)
	err = call(func() native.Enum_SS_moekit_status {
		return native.Mkb_moe_forward(r.handle(), e.handle(), hp, hd, lp, ld, op, od, wp, wn, report, nil)
	})
	runtime.KeepAlive(keep)
	runtime.KeepAlive(r)
	runtime.KeepAlive(e)
	return toReport(report), err
}

func toReport(r native.RunReport) RunReport {
	return RunReport{r.GetAssignments(), r.GetNon_local_assignments(), r.GetInvalid_assignments(),
		r.GetExperts_touched(), r.GetKernel(), r.GetDetail()}
}
