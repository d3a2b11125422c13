"""LightGBM boosters compiled to native code (lleaves), for models that score rows on every request.

Why: the recommendation ranker (541 trees) scores ~150 candidates per ``/recommend/user`` request; LightGBM's own
predict costs ~13 us a row there and was the largest part of the route's CPU, while the same forest compiled by
lleaves (LLVM) costs ~1 us a row, its scores within 1e-14 of LightGBM's (tests/model/test_recommend.py).

lleaves 1.3.0, its latest release, still drives llvmlite's legacy pass manager, which llvmlite 0.45 removed (numba
pins that llvmlite here, for shap). Upstream has the fix (siboehm/lleaves#97) but no release carries it, so
:func:`_use_new_pass_manager` gives lleaves' two LLVM calls the new API; remove it once a release does. Anything
that goes wrong while compiling leaves the booster in charge (logged once), never a failed request.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

import lightgbm as lgb
import numpy as np

logger = logging.getLogger(__name__)

_PATCH_LOCK = threading.Lock()


class CompiledForest:
    """A booster's trees as one native function; ``predict`` gives what ``booster.predict(x, raw_score=True)``
    gives (the best iteration's trees, as LightGBM's own predict uses by default)."""

    def __init__(self, model: object) -> None:
        self._model = model

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._model.predict(np.ascontiguousarray(x, dtype=np.float64), n_jobs=1)  # type: ignore[attr-defined]


def compile_booster(booster: lgb.Booster, cache_dir: Path | None = None) -> CompiledForest | None:
    """The booster compiled, or None when this machine cannot (the caller keeps predicting with the booster).

    ``cache_dir`` keeps the object code per model, LLVM, library and CPU (compiling 541 trees takes ~6 s, loading
    them back milliseconds); None compiles into a temporary directory.
    """
    try:
        from importlib.metadata import version

        import lleaves
        import llvmlite.binding as llvm

        _use_new_pass_manager()
        text = booster.model_to_string()
        cpu = f"{llvm.get_host_cpu_name()}:{_cpu_features(llvm)}"
        tag = f"{version('lleaves')}|{version('llvmlite')}|{cpu}|".encode()
        digest = hashlib.sha256(tag + text.encode()).hexdigest()[:32]
        with tempfile.TemporaryDirectory() as scratch:
            where = Path(cache_dir) if cache_dir is not None else Path(scratch)
            where.mkdir(parents=True, exist_ok=True)
            model_file = Path(scratch) / "model.txt"
            model_file.write_text(text)
            model = lleaves.Model(model_file=str(model_file))
            cached = where / f"forest-{digest}.o"
            if cached.exists():
                model.compile(cache=str(cached), raw_score=True)
            else:  # written under a unique name, then renamed: a second worker never loads half a file
                logger.info("compiling %d trees to native code once (cached in %s)", booster.num_trees(), where)
                partial = where / f"forest-{digest}.{os.getpid()}.{threading.get_ident()}.partial"
                model.compile(cache=str(partial), raw_score=True)
                os.replace(partial, cached)
        return CompiledForest(model)
    except Exception as err:
        logger.warning("could not compile the booster with lleaves, predicting with LightGBM: %s", err)
        return None


def _cpu_features(llvm: object) -> str:
    try:
        return llvm.get_host_cpu_features().flatten()  # type: ignore[attr-defined]
    except RuntimeError:  # LLVM cannot tell on some machines; lleaves then compiles for none
        return ""


def _use_new_pass_manager() -> None:
    """Point lleaves 1.3.0 at llvmlite's new pass manager when the legacy one is gone (see the module docstring)."""
    import llvmlite.binding as llvm

    if hasattr(llvm, "PassManagerBuilder"):
        return
    import lleaves.compiler as compiler
    import lleaves.lleaves as api
    import lleaves.llvm_binding as binding

    with _PATCH_LOCK:
        if getattr(compiler.compile_to_module, "_shopsense", False):
            return
        binding._initialize_llvm = _initialize_llvm
        compiler.compile_to_module = _compile_to_module
        api.compiler.compile_to_module = _compile_to_module  # the name lleaves.Model.compile calls


def _initialize_llvm() -> None:
    """lleaves' initialisation without ``llvm.initialize()``, which llvmlite >= 0.45 does itself (and rejects)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def _compile_to_module(
    file_path: str,
    fblocksize: int = 34,
    finline: bool = True,
    raw_score: bool = False,
    froot_func_name: str = "forest_root",
    use_fp64: bool = True,
) -> object:
    """``lleaves.compiler.compile_to_module`` of lleaves 1.3.0 with its optimisation step on the new pass manager
    (same code generation, same -O3 level and inlining)."""
    import llvmlite.binding as llvm
    import llvmlite.ir
    from lleaves.compiler.ast import parse_to_ast
    from lleaves.compiler.codegen import gen_forest

    forest = parse_to_ast(file_path)
    forest.raw_score = raw_score
    ir = llvmlite.ir.Module(name="forest")
    gen_forest(forest, ir, fblocksize, froot_func_name, use_fp64)
    ir.triple = llvm.get_process_triple()
    module = llvm.parse_assembly(str(ir))
    module.name = str(file_path)
    module.verify()
    _initialize_llvm()
    machine = llvm.Target.from_triple(ir.triple).create_target_machine()
    tuning = llvm.create_pipeline_tuning_options(speed_level=3, size_level=0)
    if finline:
        tuning.inlining_threshold = 1  # as lleaves: any threshold makes LLVM inline
    builder = llvm.create_pass_builder(machine, tuning)
    builder.getModulePassManager().run(module, builder)
    return module


_compile_to_module._shopsense = True  # type: ignore[attr-defined]
