"""`vramtop wrap`: deep-mode reporting without touching the program's code.

`vramtop wrap -- CMD` puts this directory first on the child's PYTHONPATH and
sets VRAMTOP_REPORT=1 (the way `opentelemetry-instrument` and `ddtrace-run`
work). Every Python interpreter started under it imports this module at
startup (the `site` module does that) and this module:

1. installs a `sys.meta_path` finder that starts the reporter when the program
   first imports `torch` (nothing is imported or started in programs that never
   import torch; torch itself is never imported from here);
2. runs the `sitecustomize` this one shadows, the next one on `sys.path`, so a
   user's or a distribution's own sitecustomize keeps working.

A failure here never reaches the program; with VRAMTOP_DEBUG=1 it is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_HERE = os.path.dirname(os.path.abspath(__file__))


def _debug(message: str) -> None:
    if os.environ.get("VRAMTOP_DEBUG"):
        sys.stderr.write(f"vramtop sitecustomize: {message}\n")


def _start_reporter() -> None:
    try:
        try:
            import vramtop.reporter.pytorch as reporter
        except ImportError:
            # The child's interpreter may not have vramtop installed (another venv):
            # borrow the copy that launched it, for this import only.
            pkg_parent = os.environ.get("VRAMTOP_PKG_DIR")
            if not pkg_parent:
                raise
            sys.path.append(pkg_parent)
            try:
                import vramtop.reporter.pytorch as reporter
            finally:
                if pkg_parent in sys.path:
                    sys.path.remove(pkg_parent)
        path = reporter.start()
        _debug(f"reporting on {path}")
    except Exception as e:
        _debug(f"reporter not started: {e!r}")


class TorchImportWatcher:
    """Fires once, when `torch` is first looked up; finds its spec with the other finders."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname != "torch" or path is not None:
            return None
        self.remove()
        spec: ModuleSpec | None = None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is not None:
            # The reporter reads torch lazily on each request, so starting now (while
            # torch is being imported) is the same as starting right after it.
            _start_reporter()
        return spec

    def remove(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)


def _install() -> None:
    if os.environ.get("VRAMTOP_REPORT") != "1":
        return
    if "torch" in sys.modules:
        _start_reporter()
        return
    if not any(isinstance(f, TorchImportWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, TorchImportWatcher())


def _chain() -> None:
    """Execute the sitecustomize that this one hides (the next one on sys.path)."""
    import importlib.machinery
    import importlib.util

    here = os.path.realpath(_HERE)
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    _debug(f"chaining {spec.origin}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    # Exceptions propagate as they would without vramtop: `site` reports them.
    spec.loader.exec_module(module)


try:
    _install()
except Exception as _e:
    _debug(f"hook not installed: {_e!r}")
_chain()
