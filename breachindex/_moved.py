"""Where the modules of 0.1's flat layout went: ``import breachindex.ingest`` still works, warns
once (``DeprecationWarning``) and gives the module at its new place, the very same object."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old module -> new module
MOVED = {
    "breachindex.benchmark": "breachindex.cli.bench",
    "breachindex.cli_campaign": "breachindex.cli.campaign",
    "breachindex.cli_json": "breachindex.cli.output",
    "breachindex.demo": "breachindex.cli.demo",
    "breachindex.details": "breachindex.index.details",
    "breachindex.gdpr": "breachindex.campaign.deadlines",
    "breachindex.indexfiles": "breachindex.builder.files",
    "breachindex.ingest": "breachindex.builder.ingest",
    "breachindex.layouts": "breachindex.builder.layouts",
    "breachindex.leakfiles": "breachindex.builder.leakfiles",
    "breachindex.pages": "breachindex.index.memory",
    "breachindex.phone": "breachindex.keying.phone",
    "breachindex.secret": "breachindex.keying.secret",
    "breachindex.synthetic": "breachindex.synth.synthetic",
    "breachindex.synthleak": "breachindex.synth.leak",
    "breachindex.writer": "breachindex.builder.writer",
}

__all__ = ["MOVED", "install"]


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; the old name goes in 0.3",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module ran at its new place already."""


def install() -> None:
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
