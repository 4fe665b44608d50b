"""A run's configuration (Sec. 4.1's training, every open choice a field): what determines one trained model.

Its hash is the run's cache key (:meth:`RunConfig.key`); runs with equal :meth:`RunConfig.stack_key` share an
architecture and data and train together (``empirical.engine.training``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from empirical.data.transforming import SPLITS
from empirical.engine.architectures import ARCHITECTURES, DEFAULT_ARCH, architecture
from empirical.engine.stacked import ACTIVATIONS, INITS
from empirical.measure.invariance import INVARIANCE_FORMS

__all__ = ["RunConfig", "MODELS", "OPTIMIZERS"]

MODELS = ("WT", "DA", "IR")
OPTIMIZERS = ("adam", "sgd")
# RunConfig fields that size some architecture; an architecture that does not take one needs it at its default
_SIZE_FIELDS = tuple(sorted({o for a in ARCHITECTURES.values() for o in a.options}))
_SCHEMA = 1  # bump when a change to training alters the numbers a cached run would hold


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one trained model; its hash is the cache key."""

    dataset: str = "mnist"
    group: str = "R4"
    model: str = "DA"
    form: str = ""
    nu: float = 0.0
    seed: int = 0
    epochs: int = 300
    lr: float = 8e-4
    batch_size: int = 512
    n_train: int = 10_000
    n_val: int = 2_000
    n_test: int = 50_000
    data_seed: int = 0
    arch: str = DEFAULT_ARCH  # the network (empirical.engine.architectures); hidden and depth size the mlp
    hidden: int = 128
    depth: int = 5
    pool: str = "max"
    activation: str = "relu"
    init: str = "torch"
    optimizer: str = "adam"
    ce: float = 1.0  # weight of the cross-entropy; 0 with IR trains on the invariance error alone (the theory's flow)
    select: str = "best_val"  # which epoch's parameters to keep: "best_val" (Sec. 4.1) or "last"
    split: str = "draw"  # how the data's pool is cut (empirical.data.transforming.SPLITS): the paper's draw or nested
    # optimizer steps per epoch (between two validations); 0: one pass over the training set (Sec. 4.1). With k > 0
    # the batches stream through passes (each a fresh shuffle and fresh group elements) across epoch boundaries,
    # so a run takes epochs * k steps whatever its n_train (the data-scaling experiment's fixed step budget)
    steps_per_epoch: int = 0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {MODELS}")
        if self.model == "IR":
            if self.form not in INVARIANCE_FORMS:
                raise ValueError(f"IR needs form in {INVARIANCE_FORMS}, got {self.form!r}")
            if not self.nu > 0:
                raise ValueError(f"IR needs a regularization weight nu > 0, got {self.nu}")
        elif self.form or self.nu:
            raise ValueError(f"{self.model} takes no regularizer; leave form='' and nu=0 (got {self.form!r}, {self.nu})")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        entry = architecture(self.arch)
        for name in _SIZE_FIELDS:
            default = type(self).__dataclass_fields__[name].default
            if name not in entry.options and getattr(self, name) != default:
                raise ValueError(f"arch={self.arch!r} takes no {name}; leave it at its default {default} "
                                 f"(it sizes another architecture)")
        if self.init != "torch" and not entry.fast:
            raise ValueError(f"init={self.init!r} (the theory's linear-layer schemes) exists for the mlp only; "
                             f"use init='torch' with arch={self.arch!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.ce < 0 or (self.ce == 0 and self.model != "IR"):
            raise ValueError(f"ce must be >= 0, and 0 only for IR (a pure invariance-error flow); got {self.ce}")
        if self.select not in ("best_val", "last"):
            raise ValueError(f"select must be 'best_val' or 'last', got {self.select!r}")
        if self.pool not in ("max", "mean"):
            raise ValueError(f"pool must be 'max' or 'mean', got {self.pool!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if isinstance(self.steps_per_epoch, bool) or not isinstance(self.steps_per_epoch, int) \
                or self.steps_per_epoch < 0:
            raise ValueError(f"steps_per_epoch must be an integer >= 0 (0: one pass per epoch), got "
                             f"{self.steps_per_epoch!r}")

    def steps(self) -> int:
        """Optimizer steps of the whole run: epochs x steps per epoch (one pass: ceil(n_train / batch_size))."""
        return self.epochs * (self.steps_per_epoch or -(-self.n_train // self.batch_size))

    def samples(self) -> int:
        """Training samples the whole run draws (the last batch of each pass holds what is left of it)."""
        per_pass = -(-self.n_train // self.batch_size)
        passes, rest = divmod(self.steps(), per_pass)
        return passes * self.n_train + rest * self.batch_size  # the first ``rest`` batches of a pass are full

    def key(self) -> str:
        """A stable 16-hex-digit hash of the configuration (fields at their default are left out, so adding
        a field with a default keeps every existing key)."""
        changed = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}
        blob = json.dumps({"schema": _SCHEMA, **changed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def stack_key(self) -> tuple:
        """Runs with equal stack keys share an architecture and data and can be trained together."""
        return tuple(v for k, v in asdict(self).items() if k not in ("seed", "form", "nu", "ce"))
