"""The enums of moekit.h as Python IntEnums. Functions taking one also accept its name ("bf16", "softmax")."""
from enum import IntEnum


class DType(IntEnum):
    F32 = 0
    F16 = 1
    BF16 = 2
    F8_E4M3FN = 3
    F8_E5M2 = 4
    E8M0 = 5
    FP4_E2M1X2 = 6  # two FP4 values per byte, low nibble first; shapes count bytes
    I32 = 7
    I64 = 8
    U8 = 9
    U32 = 10


class DeviceType(IntEnum):
    CPU = 1
    CUDA = 2
    ROCM = 10


class Backend(IntEnum):
    AUTO = 0
    CPU = 1
    CUDA = 2
    HIP = 3


class Scoring(IntEnum):
    SOFTMAX = 0
    SIGMOID = 1


class QuantScheme(IntEnum):
    FP8_PER_TENSOR = 0
    FP8_PER_TOKEN = 1
    FP8_PER_GROUP = 2
    FP8_BLOCK = 3
    MXFP4 = 4


class Activation(IntEnum):
    SILU_MUL = 0
    GELU_MUL = 1
    SWIGLU_OAI = 2


class WeightFormat(IntEnum):
    BF16 = 0
    F16 = 1
    F32 = 2
    FP8_BLOCK = 3
    MXFP4 = 4


class ActQuant(IntEnum):
    NONE = 0
    FP8_PER_TOKEN = 1
    FP8_PER_GROUP = 2


def coerce(enum_cls, value, name):
    """`value` as a member of `enum_cls`: a member, its int value, or its name in any case."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        try:
            return enum_cls[value.upper()]
        except KeyError:
            pass
    elif isinstance(value, int):
        try:
            return enum_cls(value)
        except ValueError:
            pass
    choices = ", ".join(m.name.lower() for m in enum_cls)
    raise ValueError(f"{name}: {value!r} is not a {enum_cls.__name__} (one of: {choices})")
