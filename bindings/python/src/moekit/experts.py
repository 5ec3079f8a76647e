"""moekit.Experts (the expert runner) and moe_forward (router + experts in one call)."""
from dataclasses import dataclass

from . import _native_module as _nm
from ._alloc import aligned_workspace, empty
from ._handle import OwnedHandle, check, created, stream_address
from ._tensors import ABSENT, bind
from .enums import Activation, ActQuant, Backend, DType, WeightFormat, coerce
from .router import RoutingPlan
from .router import _host_vector

# The dtype each weight tensor has in each format; raw uint8/uint16 arrays are reinterpreted as it.
_WEIGHT_DTYPES = {
    WeightFormat.BF16: (DType.BF16, None), WeightFormat.F16: (DType.F16, None),
    WeightFormat.F32: (DType.F32, None), WeightFormat.FP8_BLOCK: (DType.F8_E4M3FN, DType.F32),
    WeightFormat.MXFP4: (DType.FP4_E2M1X2, DType.E8M0),
}


@dataclass(frozen=True)
class RunReport:
    """What a run did (moekit_run_report)."""

    assignments: int
    non_local_assignments: int
    invalid_assignments: int
    experts_touched: int
    kernel: str
    detail: str


def _report(r):
    return RunReport(r.assignments, r.non_local_assignments, r.invalid_assignments, r.experts_touched, r.kernel,
                     r.detail)


class Experts(OwnedHandle):
    """An expert runner (see moekit_experts_desc). Call set_weights() before running it."""

    def __init__(self, ctx, num_experts, hidden_size, intermediate_size, num_local_experts=None,
                 activation="silu_mul", swiglu_alpha=1.702, swiglu_limit=7.0, weight_format="bf16",
                 act_quant="none", has_w13_bias=False, has_w2_bias=False, apply_router_weight_on_input=False,
                 expert_map=None):
        native = _nm.native
        desc = native.ExpertsDesc()
        desc.num_experts = int(num_experts)
        desc.num_local_experts = int(num_experts if num_local_experts is None else num_local_experts)
        desc.hidden_size = int(hidden_size)
        desc.intermediate_size = int(intermediate_size)
        desc.activation = int(coerce(Activation, activation, "activation"))
        desc.swiglu_alpha = float(swiglu_alpha)
        desc.swiglu_limit = float(swiglu_limit)
        self.weight_format = coerce(WeightFormat, weight_format, "weight_format")
        desc.weight_format = int(self.weight_format)
        desc.act_quant = int(coerce(ActQuant, act_quant, "act_quant"))
        desc.has_w13_bias = 1 if has_w13_bias else 0
        desc.has_w2_bias = 1 if has_w2_bias else 0
        desc.apply_router_weight_on_input = 1 if apply_router_weight_on_input else 0
        emap = _host_vector(native, expert_map, "expert_map", DType.I32, int(num_experts))
        super().__init__(created(native.mkb_experts_create(ctx._handle, desc, emap.address)))
        self.context = ctx
        self.last_report = None
        # The workspace lives where the backend computes, whatever memory the arguments name.
        self._host_workspace = ctx.backend == Backend.CPU
        self._workspace_align = ctx.platform_contract().buffer_align_bytes

    def set_weights(self, w13, w2, w13_scale=None, w2_scale=None, w13_bias=None, w2_bias=None, stream=None):
        """Copies the weights into the runner's layout (the arrays may be freed afterwards)."""
        native = _nm.native
        values_dtype, scale_dtype = _WEIGHT_DTYPES[self.weight_format]

        def arg(value, name, dtype=None):
            return bind(native, value, name, dtype=dtype, stream=stream) if value is not None else ABSENT

        tensors = [arg(w13, "w13", values_dtype), arg(w2, "w2", values_dtype),
                   arg(w13_scale, "w13_scale", scale_dtype), arg(w2_scale, "w2_scale", scale_dtype),
                   arg(w13_bias, "w13_bias"), arg(w2_bias, "w2_bias")]
        args = [x for b in tensors for x in (b.address, b.desc)]
        check(native.mkb_experts_set_weights(self._handle, *args, stream_address(stream)))

    def workspace_size(self, num_tokens, top_k):
        values = _nm.native.Values()
        check(_nm.native.mkb_experts_workspace_size(self._handle, int(num_tokens), int(top_k), values))
        return int(values.a)

    def run(self, hidden, plan, out=None, workspace=None, stream=None):
        """out[T,H] = sum_j w[t,j] * expert_{ids[t,j]}(hidden[t]). `plan`: a RoutingPlan or (weights, ids)."""
        native = _nm.native
        if not isinstance(plan, RoutingPlan):
            weights, ids = plan
            plan = RoutingPlan(topk_weights=weights, topk_ids=ids)
        h = bind(native, hidden, "hidden", stream=stream)
        plan_args = plan._bind(native, stream)
        if out is None:
            out = empty(h, hidden, h.dtype, h.shape, "out")
        o = bind(native, out, "out", writable=True, stream=stream)
        if workspace is None:
            ids = bind(native, plan.topk_ids, "topk_ids", stream=stream)
            top_k = ids.shape[1] if len(ids.shape) == 2 else 0
            workspace = self._workspace(h, hidden, lambda: self.workspace_size(h.shape[0] if h.shape else 0,
                                                                               top_k))
        ws = bind(native, workspace, "workspace", writable=True, stream=stream)
        report = native.RunReport()
        check(native.mkb_experts_run(self._handle, h.address, h.desc, *plan_args, o.address, o.desc, ws.address,
                                     _nbytes(ws), report, stream_address(stream)))
        self.last_report = _report(report)
        return out

    def _workspace(self, hbound, hidden, size_fn):
        nbytes = size_fn()
        if nbytes == 0:
            return None
        if self._host_workspace:
            return aligned_workspace(nbytes, self._workspace_align)
        return empty(hbound, hidden, DType.U8, (nbytes,), "workspace")


def _nbytes(bound):
    if bound.desc is None:
        return 0
    n = 1
    for s in bound.shape:
        n *= int(s)
    return n * _nm.native.moekit_dtype_size(int(bound.dtype))


def moe_forward_workspace_size(router, experts, num_tokens):
    values = _nm.native.Values()
    check(_nm.native.mkb_moe_forward_workspace_size(router._handle, experts._handle, int(num_tokens), values))
    return int(values.a)


def moe_forward(router, experts, hidden, logits, out=None, workspace=None, stream=None):
    """One MoE layer: route logits [T,E], run the experts on hidden [T,H]; returns out [T,H].

    CPU inputs give a NumPy output; device inputs need `out` (or are PyTorch tensors, then it is allocated
    with PyTorch). The GIL is released while the layer runs. The run's report is `experts.last_report`."""
    native = _nm.native
    h = bind(native, hidden, "hidden", stream=stream)
    lg = bind(native, logits, "logits", stream=stream)
    if out is None:
        out = empty(h, hidden, h.dtype, h.shape, "out")
    o = bind(native, out, "out", writable=True, stream=stream)
    if workspace is None:
        workspace = experts._workspace(h, hidden, lambda: moe_forward_workspace_size(
            router, experts, h.shape[0] if h.shape else 0))
    ws = bind(native, workspace, "workspace", writable=True, stream=stream)
    report = native.RunReport()
    check(native.mkb_moe_forward(router._handle, experts._handle, h.address, h.desc, lg.address, lg.desc,
                                 o.address, o.desc, ws.address, _nbytes(ws), report, stream_address(stream)))
    experts.last_report = _report(report)
    return out
