"""Build glue: ``pip install .`` compiles the C core with cffi (API mode, out of line: every unit
that ``native/build_native.py`` lists, behind ``native/breachindex.h``), and the small CPython
module for single lookups (``native/fastcall.c``) that calls into it."""
from setuptools import Extension, setup

fastcall = Extension(
    "breachindex._fastcall",
    sources=["native/fastcall.c"],
    depends=["native/breachindex.h"],
    include_dirs=["native"],
    define_macros=[("Py_LIMITED_API", "0x030A0000")],
    py_limited_api=True,
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
)

setup(cffi_modules=["native/build_native.py:ffibuilder"], ext_modules=[fastcall])
