"""Build glue: ``pip install .`` compiles the C core with cffi (API mode, out of line)."""
from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
