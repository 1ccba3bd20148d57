"""torch.compile by default on a GPU, without making anyone wait for it.

Compiling a whole UNet costs a minute or more at every start (65-71 s on an H200, docs/BENCHMARKS.md), which
is why it used to be opt-in. Three things take that cost away:
- regional compilation: only the denoiser's repeated blocks are compiled (the classes diffusers lists in a
  model's `_repeated_blocks`, as its `compile_repeated_blocks` does; the transformer blocks where a model lists
  none). Every instance of a block class shares one compiled graph, so compiling takes seconds, not minutes;
- torch's on-disk caches (the FX graph and AOTAutograd caches) kept in Easel's cache folder rather than /tmp,
  so a later start on this machine loads the compiled kernels instead of compiling them again;
- the compile runs in a background thread: the first picture is made eagerly, the inputs each block class
  sees in the first call are kept as the examples the background compiles on, and the blocks switch to the
  compiled code once it is ready.
A compile that fails (an unusual GPU, an operation inductor cannot handle) is said once in the log; that model
then stays eager, the pictures still come, and each result names the fallback, as the out-of-memory ladder does.
CUDA graphs are not used: the residency moves weights between runs, which a captured graph would not follow.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import torch
from diffusers.hooks import HookRegistry, ModelHook

log = logging.getLogger(__name__)

HOOK_NAME = "easel_compile"
MODES = ("auto", "on", "off")


def wanted(setting: str, device: torch.device) -> bool:
    """`auto` compiles on CUDA, where it pays (1.6x a step on an H200); on a CPU it measured 0.8x."""
    if setting not in MODES:
        raise ValueError(f"compile: unknown mode {setting!r}; use {', '.join(MODES)}")
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def keep_caches_in(folder: str | Path) -> None:
    """torch's on-disk compile caches in `folder`, for the compiles still to come in this process."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(folder / "inductor"))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
    os.environ.setdefault("TRITON_CACHE_DIR", str(folder / "triton"))


def repeated_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The blocks to compile: the classes the model names as repeated, else its transformer blocks."""
    names = set(getattr(model, "_repeated_blocks", None) or ())
    if not names:
        names = {type(m).__name__ for m in model.modules() if type(m).__name__.endswith("TransformerBlock")}
    return [m for m in model.modules() if type(m).__name__ in names]


class _BlockClass:
    """One block class of one model: compiled once in the background, then used by every instance."""

    def __init__(self, name: str, model_name: str):
        self.name, self.model_name = name, model_name
        self.started, self.ready, self.error = False, False, None
        self.examples: dict[tuple, tuple] = {}  # input shapes -> (compiled function, args, kwargs)
        self.done = threading.Event()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            log.warning("compiling %s of %s failed (%s: %s); it runs eagerly", self.name, self.model_name,
                        type(error).__name__, error)
        self.error, self.ready = error, False
        self.done.set()


# Two input shapes per block class: the first compiles a graph for its shape, the second one graph for any
# shape (torch's automatic dynamic shapes), so that a block at another resolution, or a picture of another
# size later, finds a compiled graph instead of compiling in the foreground.
EXAMPLES = 2


class _CompiledBlock(ModelHook):
    """On one block: eager until its class is compiled, compiled after; eager again for good if that fails."""

    def __init__(self, kind: _BlockClass):
        super().__init__()
        self.kind, self.compiled = kind, None
        self.calls = {"eager": 0, "compiled": 0}

    def new_forward(self, module, *args, **kwargs):
        kind = self.kind
        if self.compiled is None:  # nothing compiles yet: torch.compile only wraps until the first compiled call
            self.compiled = torch.compile(self.fn_ref.original_forward, fullgraph=True)
        if kind.ready:
            try:
                output = self.compiled(*args, **kwargs)
                self.calls["compiled"] += 1
                return output
            except Exception as error:  # noqa: BLE001 - a recompile that fails: this call and the next run eager
                kind.fail(error)
        elif not kind.started and kind.error is None and len(kind.examples) < EXAMPLES:
            shapes = _shapes((args, kwargs))
            if shapes not in kind.examples:
                kind.examples[shapes] = (self.compiled, _detached(args), _detached(kwargs))
        self.calls["eager"] += 1
        return self.fn_ref.original_forward(*args, **kwargs)


class _CompileAfterFirstCall(ModelHook):
    """On the denoiser: once its first call has shown every block its inputs, the background compile starts."""

    def __init__(self, kinds: list[_BlockClass]):
        super().__init__()
        self.kinds = kinds

    def post_forward(self, module, output):
        waiting = [kind for kind in self.kinds if not kind.started and kind.examples]
        for kind in waiting:
            kind.started = True
        if waiting:
            threading.Thread(target=_compile, args=(waiting,), name="compile", daemon=True).start()
        return output


def _compile(kinds: list[_BlockClass]) -> None:
    for kind in kinds:
        try:
            with torch.no_grad():  # as the pipelines call the denoiser: grad mode is part of what a graph assumes
                for compiled, args, kwargs in kind.examples.values():
                    compiled(*args, **kwargs)
            kind.ready = True
        except Exception as error:  # noqa: BLE001 - whatever stops the compile, the model stays eager
            kind.fail(error)
        finally:
            kind.examples = {}  # the examples' tensors are freed
            kind.done.set()


class Compiler:
    """Compiles the denoisers it is given, each in the background after its first call."""

    def __init__(self, cache_folder: str | Path | None = None):
        if cache_folder is not None:
            keep_caches_in(cache_folder)
        self._kinds: dict[int, list[_BlockClass]] = {}  # id(model) -> its block classes

    def attach(self, model: torch.nn.Module, model_name: str) -> None:
        """Hook the model's repeated blocks; nothing compiles until the model first runs."""
        kinds: dict[str, _BlockClass] = {}
        for block in repeated_blocks(model):
            name = type(block).__name__
            kind = kinds.setdefault(name, _BlockClass(name, model_name))
            HookRegistry.check_if_exists_or_initialize(block).register_hook(_CompiledBlock(kind), HOOK_NAME)
        self._kinds[id(model)] = list(kinds.values())
        HookRegistry.check_if_exists_or_initialize(model).register_hook(
            _CompileAfterFirstCall(self._kinds[id(model)]), HOOK_NAME)

    def wait(self, model: torch.nn.Module, timeout: float | None = None) -> bool:
        """Until the model's background compile is done (if it has started); True if every block class is ready."""
        kinds = self._kinds.get(id(model), [])
        for kind in kinds:
            if kind.started:
                kind.done.wait(timeout)
        return bool(kinds) and all(kind.ready for kind in kinds)

    def fallbacks(self, model: torch.nn.Module) -> list[str]:
        """What a result says when this model ran eagerly because its compile failed."""
        return [f"compiling {kind.name} failed ({type(kind.error).__name__}): it ran in eager PyTorch"
                for kind in self._kinds.get(id(model), []) if kind.error is not None]

    def calls(self, model: torch.nn.Module) -> dict[str, int]:
        """How many block calls ran eagerly and compiled (for tests and benchmarks)."""
        counts = {"eager": 0, "compiled": 0}
        for block in repeated_blocks(model):
            registry = getattr(block, "_diffusers_hook", None)
            hook = registry.get_hook(HOOK_NAME) if registry is not None else None
            if hook is not None:
                counts = {k: counts[k] + hook.calls[k] for k in counts}
        return counts


def _shapes(value) -> tuple:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)):
        return tuple(_shapes(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _shapes(v)) for k, v in sorted(value.items()))
    return ()


def _detached(value):
    """A copy of a call's inputs the foreground run cannot change while the background compiles on them."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value
