"""A saved model, whatever form it was saved in, as an ``nn.Module`` ready to audit; one line naming the fix if not.

Accepted files (detected from the content, not the name):

- **TorchScript** (``torch.jit.save``): loaded with ``torch.jit.load``; no code of the file runs beyond its
  TorchScript graph.
- **A state dict** (``torch.save(model.state_dict(), path)``, or a dict holding one under ``"state_dict"`` /
  ``"model_state_dict"`` / ``"model"``), with ``--factory pkg.module:fn``: ``fn()`` returns the module and the
  weights are loaded into it (strictly: missing or unexpected keys are an error). Read with
  ``weights_only=True``: tensors and plain containers only.
- **A pickled ``nn.Module``** (``torch.save(model, path)``): unpickling runs whatever code the file names, so it is
  loaded (``weights_only=False``) only with ``trust_pickle=True`` (``--trust-pickle``), and refused otherwise with
  the reason and the two safe alternatives.

Loaders for other formats (the suite's own run-cache entries, which the engine layer above rebuilds) are passed in
``loaders`` by the caller. The file's SHA-256 is returned with the model: it keys the audit's cache.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from empirical.data.download import DataError

__all__ = ["InputError", "LoadedModel", "load_model", "import_factory", "SAFE_FORMATS"]

SAFE_FORMATS = ("save a TorchScript file (torch.jit.script(model).save(path)), or the state dict "
                "(torch.save(model.state_dict(), path)) with --factory pkg.module:fn")
_STATE_KEYS = ("state_dict", "model_state_dict", "model")


class InputError(DataError):
    """A model, data file or option the audit cannot use; the message is one line that names the fix."""


@dataclass(frozen=True)
class LoadedModel:
    """The module (eval mode, on the requested device), how it was stored, and the SHA-256 of the file."""

    model: nn.Module
    kind: str  # "torchscript", "state dict + factory", "pickled module", or a loader's name
    sha256: str
    path: str
    description: str = ""  # what a loader knows about the model (e.g. a suite run's configuration)

    @property
    def scripted(self) -> bool:
        """TorchScript modules run no Python hooks (no layer-wise invariance)."""
        return isinstance(self.model, torch.jit.ScriptModule)


def import_factory(spec: str) -> Callable[[], nn.Module]:
    """The callable named by 'pkg.module:fn' (InputError naming what failed: the form, the import or the name)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"--factory {spec}: expected pkg.module:fn (a module path, a colon, a callable returning "
                         f"the nn.Module), e.g. empirical.engine.models:CNN")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix, in one line
        raise InputError(f"--factory {spec}: cannot import {module_name} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); install it or add its folder to "
                         f"PYTHONPATH") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise InputError(f"--factory {spec}: {module_name} has no attribute {attr!r}; name a callable that "
                             f"returns the nn.Module")
    if not callable(fn):
        raise InputError(f"--factory {spec}: {attr} is a {type(fn).__name__}, not a callable")
    return fn


def _is_torchscript(raw: bytes) -> bool:
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        return False
    names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)


def _state_dict(obj) -> dict | None:
    """The state dict inside a weights-only object: a str -> tensor mapping, possibly under a usual key."""
    if isinstance(obj, Mapping):
        if obj and all(isinstance(k, str) for k in obj) and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for key in _STATE_KEYS:
            if key in obj:
                return _state_dict(obj[key])
    return None


def _build(factory: str, state: dict, path: Path) -> nn.Module:
    fn = import_factory(factory)
    try:
        model = fn()
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"--factory {factory}: calling it failed ({type(exc).__name__}: {exc}); it must take no "
                         f"arguments and return the nn.Module") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"--factory {factory} returned a {type(model).__name__}, not an nn.Module")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise InputError(f"{path}: the state dict does not fit the module --factory {factory} builds ({first}); "
                         f"pass the factory of the architecture it was saved from") from None
    return model


def load_model(path: str | Path, factory: str | None = None, trust_pickle: bool = False,
               device: torch.device | str = "cpu",
               loaders: Mapping[str, Callable[[Path], nn.Module | None]] | None = None) -> LoadedModel:
    """The model saved at ``path`` (see the module docstring), in eval mode on ``device``; InputError otherwise.

    ``loaders`` (name -> fn(path) returning a module or (module, description), or None when the file is not
    theirs) are tried first.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the model file ({exc.strerror or exc}); check the path") from None
    digest = hashlib.sha256(raw).hexdigest()
    for name, loader in (loaders or {}).items():
        got = loader(path)
        if got is not None:
            model, description = got if isinstance(got, tuple) else (got, "")
            return LoadedModel(model.to(device).eval(), name, digest, str(path), description)
    if _is_torchscript(raw):
        try:
            with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; the archive still loads
                warnings.filterwarnings("ignore", ".*torch.jit.load.* is deprecated", DeprecationWarning)
                model = torch.jit.load(io.BytesIO(raw), map_location=device)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{path}: a TorchScript archive torch.jit.load cannot read ({type(exc).__name__}); "
                             f"save it again with torch.jit.save") from None
        return LoadedModel(model.eval(), "torchscript", digest, str(path))
    try:
        obj = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        pickled = zipfile.is_zipfile(io.BytesIO(raw)) or raw[:1] == b"\x80"
        if not pickled:
            raise InputError(f"{path}: not a model file (neither TorchScript nor torch.save: "
                             f"{type(exc).__name__}); {SAFE_FORMATS}") from None
        if not trust_pickle:
            raise InputError(f"{path} holds pickled Python objects (e.g. a whole nn.Module saved with torch.save): "
                             f"loading them runs code named in the file, so only --trust-pickle loads it, if you "
                             f"trust its source; or {SAFE_FORMATS}") from None
        try:
            obj = torch.load(io.BytesIO(raw), map_location=device, weights_only=False)
        except Exception as exc2:  # noqa: BLE001
            raise InputError(f"{path}: unpickling failed ({type(exc2).__name__}: {str(exc2).splitlines()[0][:200]}); "
                             f"the module's class must be importable here") from None
        if not isinstance(obj, nn.Module):
            raise InputError(f"{path}: the pickle holds a {type(obj).__name__}, not an nn.Module; {SAFE_FORMATS}"
                             ) from None
        return LoadedModel(obj.to(device).eval(), "pickled module", digest, str(path))
    state = _state_dict(obj)
    if state is None:
        raise InputError(f"{path}: holds a {type(obj).__name__}, neither a module nor a state dict (str -> tensor); "
                         f"{SAFE_FORMATS}")
    if factory is None:
        raise InputError(f"{path} is a state dict ({len(state)} tensors): pass --factory pkg.module:fn, a callable "
                         f"returning the module to load it into")
    return LoadedModel(_build(factory, state, path).to(device).eval(), "state dict + factory", digest, str(path))
