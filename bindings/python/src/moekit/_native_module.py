"""The loaded SWIG module, shared by the package's files (loaded once, by moekit/__init__.py)."""
from ._loader import load

native = load()
