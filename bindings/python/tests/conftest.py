"""Shared fixtures of the Python binding tests: a CPU context, seeded RNGs, the shared test vectors."""
import json
import os
import pathlib

import numpy as np
import pytest

import moekit

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
VECTORS_DIR = pathlib.Path(os.environ.get("MOEKIT_TEST_VECTORS", REPO_ROOT / "tests" / "vectors"))


@pytest.fixture
def ctx():
    with moekit.Context("cpu") as context:
        context.num_threads = 2
        yield context


@pytest.fixture
def rng():
    return np.random.default_rng(20240607)


def _numpy_dtype_by_moekit_name():
    """moekit_dtype_name -> how the raw .bin data is read. NumPy lacks bf16/fp8/fp4/e8m0: raw uint carriers."""
    raw = {moekit.DType.F32: np.float32, moekit.DType.F16: np.float16, moekit.DType.BF16: np.uint16,
           moekit.DType.F8_E4M3FN: np.uint8, moekit.DType.F8_E5M2: np.uint8, moekit.DType.E8M0: np.uint8,
           moekit.DType.FP4_E2M1X2: np.uint8, moekit.DType.I32: np.int32, moekit.DType.I64: np.int64,
           moekit.DType.U8: np.uint8, moekit.DType.U32: np.uint32}
    native = moekit._native
    return {native.moekit_dtype_name(int(d)): np.dtype(t).newbyteorder("<") for d, t in raw.items()}


def load_vector_cases(kind):
    """The cases of `kind` in tests/vectors/manifest.json (format 1), tensors loaded as NumPy arrays."""
    manifest_path = VECTORS_DIR / "manifest.json"
    if not manifest_path.exists():
        return []
    manifest = json.loads(manifest_path.read_text())
    assert manifest["format"] == 1, f"unknown test-vector format {manifest['format']}"
    dtypes = _numpy_dtype_by_moekit_name()
    cases = []
    for case in manifest["cases"]:
        if case["kind"] != kind:
            continue
        tensors = {}
        for name, t in case["tensors"].items():
            data = np.fromfile(VECTORS_DIR / t["file"], dtype=dtypes[t["dtype"]])
            tensors[name] = data.reshape(t["shape"]).astype(dtypes[t["dtype"]].newbyteorder("="))
        cases.append(pytest.param(case, tensors, id=case["name"]))
    return cases
