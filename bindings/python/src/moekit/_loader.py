"""Loads the SWIG module and the native library it links to, with a clear error when that fails.

Where libmoekit.so.1 comes from, in order:
  1. MOEKIT_LIBRARY=/path/to/libmoekit.so.1 (an explicit file, loaded first so the module links to it);
  2. next to this package (the wheel ships it there; the module's RPATH is $ORIGIN);
  3. the system search path (LD_LIBRARY_PATH, ld.so.cache).
"""
import ctypes
import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
LIBRARY_ENV = "MOEKIT_LIBRARY"


def _loaded_library_path():
    """Path of the libmoekit the process actually mapped (Linux), for error messages and moekit.info()."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if os.path.basename(path).startswith("libmoekit.so"):
                    return path
    except OSError:
        pass
    return None


def _looked_for():
    explicit = os.environ.get(LIBRARY_ENV)
    places = [f"{LIBRARY_ENV}={explicit}" if explicit else f"{LIBRARY_ENV} (not set)",
              os.path.join(_PACKAGE_DIR, "libmoekit.so.1"), "the system library search path"]
    return ", ".join(places)


def load():
    """Returns the `moekit.native` module after checking the library's ABI version."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        try:
            # RTLD_GLOBAL + same SONAME: the module's dependency resolves to this already-loaded file.
            ctypes.CDLL(explicit, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise ImportError(f"moekit: cannot load the native library {LIBRARY_ENV}={explicit}: {exc}") from exc
    try:
        from . import native
    except ImportError as exc:
        raise ImportError(f"moekit: cannot load the native library libmoekit.so.1 (looked for: {_looked_for()}): "
                          f"{exc}") from exc
    abi = native.moekit_abi_version()
    if abi != native.MOEKIT_ABI_VERSION:
        raise ImportError(f"moekit: the native library {_loaded_library_path() or 'libmoekit'} has ABI version "
                          f"{abi}, these bindings need ABI version {native.MOEKIT_ABI_VERSION} "
                          f"(looked for: {_looked_for()})")
    return native


def library_path():
    return _loaded_library_path()
