"""moekit.Router: logits -> routing plan (top-k ids and weights, bitmatrix, counts, expert-sorted order)."""
from . import _native_module as _nm
from ._alloc import empty
from ._handle import OwnedHandle, check, created, stream_address
from ._tensors import ABSENT, bind
from .enums import DType, Scoring, coerce
from .errors import InvalidArgumentError

PLAN_FIELDS = ("topk_weights", "topk_ids", "bitmatrix", "expert_counts", "sorted_token_ids", "block_expert_ids",
               "num_tokens_post_padded")


class RoutingPlan:
    """The buffers of a moekit_routing. Any field may be None (not computed / not passed)."""

    __slots__ = PLAN_FIELDS

    def __init__(self, **fields):
        for name in PLAN_FIELDS:
            setattr(self, name, fields.pop(name, None))
        if fields:
            raise TypeError(f"RoutingPlan: unknown fields {sorted(fields)}")

    def _bind(self, native, stream, writable_fields=()):
        """Bound tensors in PLAN_FIELDS order, flattened to the (address, descriptor) argument pairs."""
        args = []
        for name in PLAN_FIELDS:
            value = getattr(self, name)
            b = bind(native, value, name, writable=name in writable_fields, stream=stream) \
                if value is not None else ABSENT
            args += [b.address, b.desc]
        return args

    def __repr__(self):
        shapes = {n: tuple(getattr(self, n).shape) for n in PLAN_FIELDS if getattr(self, n) is not None}
        return f"RoutingPlan({shapes})"


def _host_vector(native, value, name, dtype, length):
    """A [length] host array argument the library reads without knowing its length: checked here."""
    if value is None:
        return ABSENT
    b = bind(native, value, name)
    if b.dtype != dtype or b.shape != (length,) or not b.on_cpu:
        raise InvalidArgumentError(f"{name}: must be a [{length}] {DType(dtype).name.lower()} host array, got "
                                   f"shape {b.shape} {DType(b.dtype).name.lower()} on device type {b.device_type}")
    if b.shape[0] > 0 and b.desc.stride(0) != 1:
        raise InvalidArgumentError(f"{name}: must be contiguous")
    return b


class Router(OwnedHandle):
    """A router for `num_experts` experts choosing `top_k` per token (see moekit_router_desc)."""

    def __init__(self, ctx, num_experts, top_k, scoring="softmax", renormalize=False, num_expert_groups=0,
                 topk_groups=0, routed_scaling_factor=1.0, correction_bias=None, expert_map=None, block_size=0):
        native = _nm.native
        desc = native.RouterDesc()
        desc.num_experts = int(num_experts)
        desc.top_k = int(top_k)
        desc.scoring = int(coerce(Scoring, scoring, "scoring"))
        desc.renormalize = 1 if renormalize else 0
        desc.num_expert_groups = int(num_expert_groups)
        desc.topk_groups = int(topk_groups)
        desc.routed_scaling_factor = float(routed_scaling_factor)
        desc.block_size = int(block_size)
        bias = _host_vector(native, correction_bias, "correction_bias", DType.F32, int(num_experts))
        emap = _host_vector(native, expert_map, "expert_map", DType.I32, int(num_experts))
        super().__init__(created(native.mkb_router_create(ctx._handle, desc, bias.address, emap.address)))
        self.context = ctx
        self.num_experts = int(num_experts)
        self.top_k = int(top_k)

    def plan_sizes(self, num_tokens):
        """(block_size, max_sorted, max_blocks) of the sorted-order buffers for `num_tokens` tokens."""
        values = _nm.native.Values()
        check(_nm.native.mkb_router_plan_sizes(self._handle, int(num_tokens), values))
        return int(values.a), int(values.b), int(values.c)

    def empty_plan(self, num_tokens, like=None, sorted_order=True, _like_bound=None):
        """A RoutingPlan of uninitialised buffers for `num_tokens` tokens (host, or the device of `like`)."""
        native = _nm.native
        lb = _like_bound or (bind(native, like, "like") if like is not None else ABSENT)
        t, k, e = int(num_tokens), self.top_k, self.num_experts
        plan = RoutingPlan(topk_weights=empty(lb, like, DType.F32, (t, k), "topk_weights"),
                           topk_ids=empty(lb, like, DType.I32, (t, k), "topk_ids"),
                           bitmatrix=empty(lb, like, DType.U32, (t, (e + 31) // 32), "bitmatrix"),
                           expert_counts=empty(lb, like, DType.I32, (e,), "expert_counts"))
        if sorted_order:
            _, max_sorted, max_blocks = self.plan_sizes(t)
            plan.sorted_token_ids = empty(lb, like, DType.I32, (max_sorted,), "sorted_token_ids")
            plan.block_expert_ids = empty(lb, like, DType.I32, (max_blocks,), "block_expert_ids")
            plan.num_tokens_post_padded = empty(lb, like, DType.I32, (1,), "num_tokens_post_padded")
        return plan

    def route(self, logits, plan=None, stream=None):
        """Routes logits [T,E] (f32/bf16/f16) into `plan` (allocated, with the sorted order, if None)."""
        native = _nm.native
        lg = bind(native, logits, "logits", stream=stream)
        if plan is None:
            plan = self.empty_plan(lg.shape[0] if lg.shape else 0, like=logits, _like_bound=lg)
        args = plan._bind(native, stream, writable_fields=PLAN_FIELDS)
        check(native.mkb_router_run(self._handle, lg.address, lg.desc, *args, stream_address(stream)))
        return plan

    def build_plan(self, topk_ids, plan=None, stream=None):
        """The metadata (bitmatrix, counts, sorted order) of caller-chosen topk_ids [T,k] i32."""
        native = _nm.native
        if plan is None:
            ids = bind(native, topk_ids, "topk_ids", stream=stream)
            plan = self.empty_plan(ids.shape[0] if ids.shape else 0, like=topk_ids, _like_bound=ids)
            plan.topk_weights = None
        plan.topk_ids = topk_ids
        writable = tuple(n for n in PLAN_FIELDS if n not in ("topk_ids", "topk_weights"))
        args = plan._bind(native, stream, writable_fields=writable)
        check(native.mkb_router_build_plan(self._handle, *args, stream_address(stream)))
        return plan
