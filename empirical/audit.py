"""Audit a saved model: is it genuinely invariant, in the paper's sense? One command, from a model file to a report.

    python -m empirical.audit MODEL --data DATA --groups R4 [D4 ...] [--layers] [--lie rotation translation]
                              [--device cuda] [--out DIR] [--limit N] [--quick]

MODEL is a TorchScript file, a state dict with ``--factory pkg.module:fn``, a pickled nn.Module with
``--trust-pickle`` (unpickling runs code), or a run of this suite's cache (``runs/<regime>/<key>.pt``). DATA is
``mnist`` / ``fashion-mnist`` (the Transforming test split Table 1 evaluates, or the raw t10k files with
``--padding none``), an IDX folder, a .pt / .npz file of tensors, or a folder of images (one subfolder per
class). Writes ``audit.md``, ``audit.json`` and PNG figures into ``--out`` (default ``audit/<model stem>/``):
accuracy, orbit accuracy and agreement, LI, DI, NLI, SI and sigma_max(J) as distributions and per class, the
layer-wise profile, the Lie derivatives, orbit saliency maps, and a verdict per group against the suite's WT,
IR and DA models of Table 1 (the rule is in ``empirical.measure.audit.VERDICT_RULE`` and in the report).

Batches are cached under ``<out>/.cache/`` as they finish: a killed audit rerun with the same command resumes
there; the report files are each written whole (temporary file, rename), the Markdown last, and the cache is
removed once they are. Bad input is one line naming the fix.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from empirical.cli import UsageError, command, resolve_device
from empirical.data.download import DataError, check_data_dir
from empirical.data.user_data import PADDINGS, audit_groups, check_fit, load_data
from empirical.data.user_model import InputError, load_model
from empirical.engine.auditing import cache_key, run_batches
from empirical.engine.runs import build_model
from empirical.engine.store import StoreError, check_writable, clean_orphans, is_entry, read_entry, write_json, \
    write_text
from empirical.engine.config import RunConfig
from empirical.engine.results import provenance, RunResult
from empirical.measure.attribution import IG_METHODS
from empirical.measure.audit import TRANSFORMS, AuditSpec
from empirical.measure.image_groups import act
from empirical.measure.orbit_maps import realigned_maps, sample_si

__all__ = ["main"]

log = logging.getLogger("empirical")
QUICK_LIMIT, QUICK_STEPS = 256, 16


def suite_run(path: Path) -> tuple[nn.Module, str] | None:
    """The module of a run of this suite's cache (a checksummed store entry) and its configuration in words; None
    for any other file."""
    if not is_entry(path):
        return None
    payload = read_entry(path)
    if payload is None:
        raise InputError(f"{path}: a run-cache entry whose checksum fails (the store moved it into corrupt/); "
                         f"retrain the run or pass another model")
    try:
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            obj = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        result = RunResult(**{**obj, "config": RunConfig(**obj["config"])})
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: a store entry but not a trained run ({type(exc).__name__}); pass a run file "
                         f"<cache>/<regime>/<key>.pt") from None
    if result.failed:
        raise InputError(f"{path}: run {result.config.key()} failed in training ({result.failed}); it has no model")
    c = result.config
    regime = f"{c.model}-{c.form} nu={c.nu:g}" if c.model == "IR" else c.model
    what = (f"{c.key()}, {regime} on {c.group}, {c.arch}, seed {c.seed}, {c.epochs} epochs on "
            f"{c.n_train} training images, best validation accuracy {100 * result.best_val_acc:.1f}%")
    return build_model(result), what


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m empirical.audit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="TorchScript file, state dict (with --factory), pickled module "
                                                  "(with --trust-pickle) or a run of the suite's cache")
    p.add_argument("--data", required=True, metavar="DATA",
                   help="mnist | fashion-mnist | an IDX folder | a .pt/.npz file | a folder of images")
    p.add_argument("--groups", nargs="+", default=["R4"], metavar="G",
                   help="registered groups (R4, T3, D4, F2) or T<n>; default R4")
    p.add_argument("--layers", action="store_true", help="the layer-wise invariance profile (needs an nn.Module)")
    p.add_argument("--lie", nargs="+", default=[], choices=tuple(TRANSFORMS),
                   help="Lie derivatives of smooth transformations")
    p.add_argument("--factory", metavar="PKG.MODULE:FN", help="callable returning the module a state dict loads into")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a pickled nn.Module (weights_only=False): this runs code from the file")
    p.add_argument("--padding", default="paper", choices=PADDINGS,
                   help="for mnist / fashion-mnist: paper = the Transforming test split (36x36, normalized), "
                        "none = the raw t10k files (28x28, [0, 1])")
    p.add_argument("--data-dir", default=None, help="folder with the IDX data (else $INVARIANCE_DATA, ...)")
    p.add_argument("--limit", type=int, default=None, help="audit the first N samples only")
    p.add_argument("--batch-size", type=int, default=256, help="samples per batch (and per cached result)")
    p.add_argument("--steps", type=int, default=50, help="integrated-gradients steps (default 50, the paper's)")
    p.add_argument("--ig", default="fast", choices=IG_METHODS,
                   help="IG implementation: fast (default) or reference (the committed numbers'); same estimator")
    p.add_argument("--reference", default="mlp", choices=("mlp", "cnn"),
                   help="which of the suite's Table 1 models the verdict compares with (default mlp)")
    p.add_argument("--samples", type=int, default=4, help="samples in the orbit saliency figure")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's, one per core; 1 is faster on a busy machine)")
    p.add_argument("--out", default=None, help="output folder (default audit/<model stem>/)")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke run: the first {QUICK_LIMIT} samples, {QUICK_STEPS} IG steps")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no messages")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return p


def _options(args: argparse.Namespace) -> tuple[torch.device, Path]:
    """The device and output folder, checked before any work (UsageError)."""
    for name in ("limit", "batch_size", "steps", "threads"):
        value = getattr(args, name)
        if value is not None and value < (2 if name == "batch_size" and args.layers else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be at least {2 if name == 'batch_size' else 1}, "
                             f"got {value}")
    if args.samples < 0:
        raise UsageError(f"--samples must be >= 0, got {args.samples}")
    device = resolve_device(args.device)
    try:
        check_data_dir(args.data_dir)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out) if args.out else Path("audit") / Path(args.model).stem
    try:
        check_writable(out)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return device, out


def _examples(model, data, groups, steps: int, n: int, device, dtype) -> dict:
    """Realigned orbit saliency maps of the first n samples for each group (Figure 3's form)."""
    out = {}
    if n == 0:
        return out
    x = data.x[:n].to(device=device, dtype=dtype)
    with torch.no_grad():
        y = data.y[:n].to(device) if data.y is not None else model(x).reshape(x.shape[0], -1).argmax(-1)
    for name, rep in groups.items():
        xg = x if name not in data.moved else act(rep, x, data.moved[name][:n].to(device))
        maps = realigned_maps(model, xg, y, rep, data.baseline, steps)
        image = xg.reshape(xg.shape[0], -1, *xg.shape[-2:]).mean(1)
        out[name] = {"images": image.cpu().numpy(), "maps": maps.cpu().numpy(), "SI": sample_si(maps).cpu().numpy()}
    return out


@command
def main(argv: list[str] | None = None) -> int:
    """Audit MODEL on DATA; write the report into --out."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        device, out = _options(args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    threads, level = torch.get_num_threads(), log.level
    if args.quiet:
        log.setLevel(logging.WARNING)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return _audit(args, device, out)
    finally:
        torch.set_num_threads(threads)
        log.setLevel(level)


def _audit(args: argparse.Namespace, device: torch.device, out: Path) -> int:
    """The audit itself, after the options were checked."""
    start = time.perf_counter()
    limit = args.limit if args.limit is not None else (QUICK_LIMIT if args.quick else None)
    steps = QUICK_STEPS if args.quick and args.steps == 50 else args.steps
    loaded = load_model(args.model, args.factory, args.trust_pickle, device, loaders={"suite run": suite_run})
    if args.layers and loaded.scripted:
        raise InputError("--layers hooks the model's modules, and a TorchScript model runs no Python hooks: pass the "
                         "state dict with --factory (or a pickled module with --trust-pickle), or leave --layers out")
    data = load_data(args.data, args.data_dir, args.padding, args.groups, limit, args.quiet)
    groups = audit_groups(args.groups, data)
    model = loaded.model
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    classes = check_fit(model, data, device, dtype)
    spec = AuditSpec(steps=steps, ig_method=args.ig, layers=args.layers, lie=tuple(args.lie))
    settings = {"groups": list(groups), "ig_steps": steps, "ig_method": args.ig, "baseline": data.baseline,
                "layers": args.layers, "lie": list(args.lie), "batch_size": args.batch_size, "device": str(device),
                "dtype": str(dtype), "limit": limit, "quick": args.quick, "padding": args.padding}
    key = cache_key(model=loaded.sha256, data=data.sha256(), spec=asdict(spec), **settings)
    clean_orphans(out)
    cache = out / ".cache" / key
    values, timing = run_batches(model, data.x, data.y, groups, spec, cache, baseline=data.baseline,
                                 moved=data.moved or None, batch_size=args.batch_size, device=device, dtype=dtype,
                                 quiet=args.quiet)
    examples = _examples(model, data, groups, steps, min(args.samples, len(data)), device, dtype)

    from empirical.paper.audit_plots import plot_distributions, plot_layers, plot_orbit_saliency, plot_verdict
    from empirical.paper.audit_report import finite_json, load_references, markdown, results

    refs, files = load_references(args.reference)
    res = results(values, data.y, list(groups), refs)
    figures = {"verdict": "audit_verdict.png", "distributions": "audit_distributions.png"}
    plot_verdict(res, out / figures["verdict"])
    plot_distributions(res, out / figures["distributions"])
    if args.layers:
        figures["layers"] = "audit_layers.png"
        plot_layers(res, out / figures["layers"])
    for name, ex in examples.items():
        figures[f"saliency_{name}"] = f"audit_saliency_{name}.png"
        plot_orbit_saliency(ex["images"], ex["maps"], ex["SI"], name, out / figures[f"saliency_{name}"])
    doc = {"model": {"path": loaded.path, "kind": loaded.kind, "description": loaded.description,
                     "sha256": loaded.sha256, "classes": classes,
                     "parameters": sum(p.numel() for p in model.parameters())},
           "data": {"spec": args.data, "description": data.description, "n": len(data),
                    "shape": list(data.x.shape[1:]), "classes": list(data.classes) if data.classes else None},
           "settings": settings, "provenance": provenance(device),
           "references": {"set": args.reference, "files": files},
           "timing": {**{k: timing[k] for k in ("batches", "computed", "cached")}, "batch_seconds": timing["seconds"],
                      "total_seconds": time.perf_counter() - start},
           "examples": {g: {"SI": ex["SI"].tolist()} for g, ex in examples.items()},
           "results": res}
    doc = finite_json(doc)
    write_json(doc, out / "audit.json")
    write_text(markdown(doc, figures) + "\n", out / "audit.md")  # last: a reader of audit.md finds all it names
    shutil.rmtree(out / ".cache", ignore_errors=True)
    if not args.quiet:
        for g, b in res["groups"].items():
            print(f"{g}: {b['verdict']['label']} (SI {b['verdict']['means']['SI']:.3f}, DI "
                  f"{b['verdict']['means']['DI']:.3g})", file=sys.stderr)
    log.info("wrote %s, %s and %d figure(s) in %.1f s", out / "audit.md", out / "audit.json", len(figures),
             doc["timing"]["total_seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
