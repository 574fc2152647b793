"""The whole Deep Compression pipeline, as run by ``vietai-compress run`` and by the notebooks.

train (or reuse) -> [remove units] -> prune -> retrain (once, or in several rounds) -> share weights -> fine-tune
centroids -> encode -> decode -> verify. ``Run`` gives each stage of one setting (``Settings``), loaded from the
checkpoint an earlier run wrote or computed with the functions of ``stages`` (the ones notebooks 01-06 teach);
``run_pipeline`` measures every stage and writes the results beside the compressed file.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from .checkpoints import bits_label, fingerprint, model_from_payload, read_payload, run_name
from .checks import check_choice, check_int, check_real
from .compression import model_size_report
from .config import SEED, Device, artifacts_root, get_device, mode_name, seed_everything
from .data import Jittered, expected_source, mnist_loaders
from . import reference
from .fileio import atomic_write_bytes, atomic_write_text
from .models import build_model, masked_layers, widths
from .pruning import keep_fractions, split_epochs
from .quantization import bits_per_layer, check_bits
from .recipe import BATCH_SIZE, BITS, SENSITIVITY, fine_tune_epochs, model_epochs, model_jitter
from .stages import (base_meta, prune_and_retrain, saved_payload, prune_units_and_retrain, retrained_meta,
                     share_and_fine_tune, shared_meta, train_base, units_meta)
from .storage import load_compressed, save_compressed
from .structured import keep_label, unit_fractions
from .training import Batches, evaluate
from .vcz import size_report


@dataclass
class Settings:
    """What ``run_pipeline`` does; the command line's options."""

    model: str = "lenet300"
    quick: bool = False
    sensitivity: float = SENSITIVITY
    bits: int | dict[str, int] = BITS  # one for every layer, or per layer
    rounds: int = 1  # prune + retrain rounds; 1 is the article's one-shot pruning
    keep: dict[str, float] | None = None  # fractions of weights kept per layer, instead of s x std
    out: Path = field(default_factory=artifacts_root)  # the notebooks' artifacts folder, one subfolder per mode
    fine_tune_epochs: int | None = None  # None: 5 in full mode, one MNIST epoch of steps in quick mode
    distill: bool = False  # the dense base model teaches retraining and fine-tuning (notebook 07)
    reuse_base: bool = True
    progress: bool = True
    seed: int = SEED  # weight init and shuffling, of the base model and of the compression
    holdout: bool = True  # train on 55,000 images and measure every stage on the 5,000 held out too
    train_images: int | None = None  # only the first N training images (quick runs of notebook 09)
    epochs: int | None = None  # base training and retraining; None: the recipe's (``model_epochs``)
    jitter: int | None = None  # pixels of random shift of the training images; None: the recipe's (``model_jitter``)
    units: dict[str, float] | None = None  # fraction of the units each layer keeps before weight pruning (notebook 11)
    eval_images: int | None = None  # measure on the first N validation and test images only (quick runs of notebooks)

    @property
    def shift(self) -> int:
        """The pixels of jitter this run trains with: ``jitter``, or the recipe's for the model (2 for LeNet-5)."""
        return model_jitter(self.model) if self.jitter is None else self.jitter

    @property
    def folder(self) -> Path:
        """``out/<mode>/seed<N>-holdout`` (``-all`` when trained on all 60,000 images), then what else changes
        the training: ``-jitter<pixels>``, ``-images<N>``, ``-epochs<N>``. Models trained on other images,
        shifts, epochs or seeds never share a file; ``-eval<N>`` marks runs measured on fewer images."""
        parts = [f"seed{self.seed}", "holdout" if self.holdout else "all"]
        parts += [f"jitter{self.shift}"] if self.shift else []
        parts += [f"images{self.train_images}"] if self.train_images is not None else []
        parts += [f"epochs{self.epochs}"] if self.epochs is not None else []
        parts += [f"eval{self.eval_images}"] if self.eval_images is not None else []
        return self.out / mode_name(self.quick) / "-".join(parts)

    @property
    def name(self) -> str:
        """The name of the pruning and retraining, e.g. ``lenet300_s2`` (``run_name``)."""
        return run_name(self.model, self.sensitivity, self.rounds, self.keep, self.distill, self.units)

    @property
    def stem(self) -> str:
        """The name of this setting's files, e.g. ``lenet300_s2_b5``: ``name`` plus the bits, and ``_ft<N>``
        when the epochs of centroid fine-tuning are not the recipe's."""
        fine_tune = f"_ft{self.fine_tune_epochs}" if self.fine_tune_epochs is not None else ""
        return f"{self.name}_b{bits_label(self.bits)}{fine_tune}"

    def __post_init__(self):
        self.sensitivity = check_real(self.sensitivity, "sensitivity", 0.0)
        names = [name for name, _ in masked_layers(build_model(self.model))]  # raises for an unknown model
        if isinstance(self.bits, Mapping):
            self.bits = bits_per_layer(self.bits, names)
        else:
            self.bits = check_bits(self.bits)
        if self.keep is not None:
            self.keep = keep_fractions(self.keep, names)
        if self.units is not None:
            self.units = unit_fractions(self.units, names)
        self.rounds = check_int(self.rounds, "rounds", 1)
        self.seed = check_int(self.seed, "seed", 0)
        if self.train_images is not None:
            self.train_images = check_int(self.train_images, "train_images", 1)
        if self.epochs is not None:
            self.epochs = check_int(self.epochs, "epochs", 1)
        if self.eval_images is not None:
            self.eval_images = check_int(self.eval_images, "eval_images", 1)
        if self.jitter is not None:
            self.jitter = check_int(self.jitter, "jitter", 0, 8)
        if self.fine_tune_epochs is not None:
            self.fine_tune_epochs = check_int(self.fine_tune_epochs, "fine_tune_epochs", 0)
        self.out = Path(self.out)


@dataclass
class Stage:
    """One row of the final table."""

    stage: str
    accuracy: float
    nonzeros: int
    bytes: int
    ratio: float = field(default=0.0)
    val_accuracy: float | None = None  # on the held-out validation images, with ``Settings.holdout``


STAGES = ("base", "units", "retrained", "shared")
# What each stage's checkpoint holds, as a notebook says it when it loads one
STAGE_VI = {"base": "mô hình gốc", "units": "mô hình đã bỏ nơ-ron và huấn luyện lại",
            "retrained": "mô hình đã cắt tỉa và huấn luyện lại",
            "shared": "mô hình đã chia sẻ trọng số và tinh chỉnh tâm cụm"}


class Run:
    """The stages of one run of the pipeline (``Settings``), each loaded from its checkpoint or computed and saved.

    base -> [whole units removed, retrained] -> pruned + retrained -> shared + fine-tuned -> compressed file, each a
    file in ``settings.folder``: ``<model>_base.pt``, ``<name>_units.pt``, ``<name>_retrained.pt``,
    ``<stem>_shared.pt``, ``<stem>.vcz``. The notebooks and ``vietai-compress run`` call the same stages, so they
    share one set of files: notebook 10's "notebook 06's file" is the file notebook 06 wrote.

    A stage first looks for its checkpoint in the artifacts folder (an earlier notebook or command wrote it); then,
    with ``shipped`` (class mode: full mode with ``TRAIN = False``), among the reference run's files shipped with the
    package (``reference``); and computes it only when neither was made with this run's settings (mode, epochs,
    data, ...). Every stage trains on one training loader, in order: the base model on a copy of it, then removing
    units, retraining and fine-tuning, each where the stage before left the shuffling. A stage that is loaded
    instead of trained moves the loader on as its training would have (``TensorLoader.skip``): the numbers are the
    same whichever stages were loaded and in whatever order a notebook asks for them. Models come back on
    ``device`` (default ``get_device()``); each call returns a new copy.
    """

    def __init__(self, settings: Settings, device: Device = None, shipped: bool = False):
        self.settings, self.device = settings, torch.device(device) if device else get_device()
        self.shipped = shipped and not settings.quick  # the reference run is a full-mode run
        seed_everything(settings.seed)
        loaders = mnist_loaders(BATCH_SIZE, device=self.device, quick=settings.quick, seed=settings.seed,
                                validation=settings.holdout)
        train_loader, self.test_loader = loaders[0], loaders[-1]
        self.val_loader = loaders[1] if settings.holdout else None
        if settings.eval_images is not None:
            self.test_loader = first_images(self.test_loader, settings.eval_images)
            if self.val_loader is not None:
                self.val_loader = first_images(self.val_loader, settings.eval_images)
        if settings.train_images is not None:
            train_loader = first_images(train_loader, settings.train_images)
        self._train = Jittered(train_loader, settings.shift, seed=settings.seed) if settings.shift else train_loader
        self.epochs = settings.epochs or model_epochs(settings.model, settings.quick, len(train_loader))
        self.ft_epochs = (settings.fine_tune_epochs if settings.fine_tune_epochs is not None
                          else fine_tune_epochs(settings.quick, len(train_loader)))
        self._models: dict[str, nn.Module] = {}
        self._payloads: dict[str, dict] = {}  # each stage's checkpoint as read: meta, optimizer state

    # ------------------------------------------------------------ where each stage's file is
    def path(self, stage: str) -> Path:
        """The checkpoint of ``stage`` (one of ``STAGES``) in the artifacts folder, or ``"file"``: the ``.vcz``."""
        s = self.settings
        names = {"base": f"{s.model}_base.pt", "units": f"{s.name}_units.pt", "retrained": f"{s.name}_retrained.pt",
                 "shared": f"{s.stem}_shared.pt", "file": f"{s.stem}.vcz"}
        return s.folder / names[check_choice(stage, "stage", names)]

    def expected_meta(self, stage: str) -> dict:
        """What ``stage``'s checkpoint must record to be this run's (``stages.*_meta``); after the base model, also
        the ``fingerprint`` of the model the stage started from, which is loaded or computed first."""
        s, loader = self.settings, self._train
        if stage == "base":
            return base_meta(s.quick, loader, s.model, self.epochs)
        if stage == "units":
            meta = units_meta(s.quick, loader, s.units, s.model, self.epochs)
        elif stage == "retrained":
            meta = retrained_meta(s.quick, loader, s.sensitivity, s.rounds, s.keep, s.distill, s.model, self.epochs)
        else:
            meta = shared_meta(s.quick, loader, s.sensitivity, s.rounds, s.bits, self.ft_epochs, s.keep, s.distill,
                               s.model, self.epochs)
        return {**meta, "parent": fingerprint(self._model(self._parent(stage)))}

    def _parent(self, stage: str) -> str:
        """The stage whose model ``stage`` starts from."""
        if stage == "retrained":
            return "units" if self.settings.units else "base"
        return {"units": "base", "shared": "retrained"}[stage]

    def meta(self, stage: str) -> dict:
        """The metadata of ``stage``'s checkpoint (settings, seconds it took, training history), loading or
        computing the stage first."""
        return self._payload(stage)["meta"]

    def optimizer_state(self, stage: str = "base") -> dict:
        """The optimizer state saved with ``stage``'s checkpoint (the base model's Adam: notebook 03)."""
        payload = self._payload(stage)
        reference.log_read(self.path(stage).relative_to(self.settings.out / mode_name(self.settings.quick)),
                           "optimizer")  # the rebuild ships optimizer states only where they are read
        return payload["optimizer"]

    def _payload(self, stage: str) -> dict:
        self._model(stage)
        return self._payloads[stage]

    # ------------------------------------------------------------ the loader each stage trains on
    def train_loader(self, stage: str = "base") -> Batches:
        """A copy of the training loader, shuffled as ``stage`` sees it: fresh for the base model (and for a
        stage distilled from precomputed logits), else after the passes of the stages before it."""
        passes = {"base": 0, "units": 0, "retrained": self._passes("units"),
                  "shared": self._passes("units") + self._passes("retrained")}
        return self._train.copy().skip(passes[check_choice(stage, "stage", passes)])

    def _passes(self, stage: str) -> int:
        """Passes over the training loader that ``stage`` draws from it (0 when it does not run, or when it
        distils from logits computed once, ``stages.taught_by``: that loader shuffles on its own)."""
        s = self.settings
        if (stage == "units" and not s.units) or (s.distill and not s.shift):
            return 0
        if stage == "retrained" and s.rounds > 1:
            return sum(split_epochs(self.epochs, s.rounds))
        return self.epochs

    # ------------------------------------------------------------ the stages
    def base(self) -> nn.Module:
        """The dense model trained with the recipe (``stages.train_base``; notebook 01)."""
        return copy.deepcopy(self._model("base"))

    def units(self) -> nn.Module:
        """The base model with whole units removed and retrained (``stages.prune_units_and_retrain``; notebook
        11); the base model itself when the settings remove no unit."""
        return copy.deepcopy(self._model("units" if self.settings.units else "base"))

    def retrained(self) -> nn.Module:
        """Pruned and retrained (``stages.prune_and_retrain``; notebook 03)."""
        return copy.deepcopy(self._model("retrained"))

    def shared(self) -> nn.Module:
        """Weights shared by k-means, centroids fine-tuned (``stages.share_and_fine_tune``; notebook 04)."""
        return copy.deepcopy(self._model("shared"))

    def compressed(self) -> Path:
        """The ``.vcz`` file of the shared model, written with Huffman coding (``storage.save_compressed``;
        notebook 06). Returns its path."""
        return save_compressed(self._model("shared"), self.path("file"))

    def teacher(self) -> nn.Module | None:
        """The dense base model in eval mode when the settings distil from it (notebook 07), else None."""
        return copy.deepcopy(self._model("base")).eval() if self.settings.distill else None

    def _model(self, stage: str) -> nn.Module:
        if stage not in self._models:
            payload = self._saved(stage)
            if payload is not None:
                self._models[stage] = model_from_payload(payload, self.settings.model).to(self.device)
            else:
                self._models[stage] = self._compute(stage)
                payload = read_payload(self.path(stage))
            self._payloads[stage] = payload
        return self._models[stage]

    def _saved(self, stage: str) -> dict | None:
        """The checkpoint of ``stage`` made with this run's settings: in the artifacts folder, or (``shipped``)
        among the reference run's files; None when neither has one (``stages.saved_payload``)."""
        path = self.path(stage)
        relative = path.relative_to(self.settings.out / mode_name(self.settings.quick))
        return saved_payload(path, self.expected_meta(stage), relative, self.shipped, STAGE_VI[stage], self.device)

    def _compute(self, stage: str) -> nn.Module:
        s, progress = self.settings, self.settings.progress
        if stage == "base":
            seed_everything(s.seed)  # the same initial weights for the same seed, whatever ran before
            model = build_model(s.model).to(self.device)
            train_base(model, self.train_loader("base"), s.quick, self.device, progress, eval_loader=self.val_loader,
                       path=self.path("base"), epochs=self.epochs)
            return model
        model = copy.deepcopy(self._model(self._parent(stage)))
        parent = fingerprint(model)
        if stage == "units":
            prune_units_and_retrain(model, self.train_loader("units"), s.quick, s.units, self.device, progress,
                                    path=self.path("units"), teacher=self.teacher(), epochs=self.epochs, parent=parent)
        elif stage == "retrained":
            prune_and_retrain(model, self.train_loader("retrained"), s.quick, s.sensitivity, s.rounds, self.device,
                              progress, eval_loader=self.val_loader, path=self.path("retrained"), keep=s.keep,
                              teacher=self.teacher(), epochs=self.epochs, parent=parent)
        else:
            share_and_fine_tune(model, self.train_loader("shared"), s.quick, s.bits, self.ft_epochs, self.device,
                                progress, eval_loader=self.val_loader, path=self.path("shared"), s=s.sensitivity,
                                rounds=s.rounds, keep=s.keep, teacher=self.teacher(), epochs=self.epochs,
                                parent=parent)
        return model


def _nonzero_weights(model: nn.Module) -> int:
    return sum(row.nonzeros for row in model_size_report(model).rows)


def run_pipeline(settings: Settings, shipped: bool = False) -> dict:
    """Every stage of ``Run(settings)`` (loaded or computed), measured, and the compressed file written, decoded and
    checked under ``settings.folder``.

    Returns the results: settings, one ``Stage`` per step (test accuracy, and validation accuracy with
    ``holdout``; nonzero weights, bytes, ratio to dense float32), the compressed file's path and the time
    it took to load and decode it. They are written to ``results.json`` (the last run) and to
    ``<file stem>.json`` beside the compressed file, with the seconds the whole run took.
    """
    started = time.perf_counter()
    run = Run(settings, shipped=shipped)
    if not settings.reuse_base and run.path("base").exists():
        run.path("base").unlink()  # later stages record the base they started from, so they are redone too
    stages: list[Stage] = []

    def record(stage: str, model: nn.Module, size: int) -> None:
        val = evaluate(model, run.val_loader, run.device).accuracy if run.val_loader is not None else None
        stages.append(Stage(stage, evaluate(model, run.test_loader, run.device).accuracy, _nonzero_weights(model),
                            size, val_accuracy=val))

    base = run.base()
    dense_bytes = model_size_report(base).total_bytes("dense")
    record("base (dense float32)", base, dense_bytes)
    s = settings
    if s.units:
        smaller = run.units()
        record(f"units kept ({keep_label(s.units)}) + retrained, dense", smaller,
               model_size_report(smaller).total_bytes("dense"))
    in_rounds = (f", {s.rounds} rounds" if s.rounds > 1 else "") + (", distilled" if s.distill else "")
    rule = f"s = {s.sensitivity:g}" if s.keep is None else "keep " + ", ".join(f"{n} {100 * f:g}%" for n, f in s.keep.items())
    retrained = run.retrained()
    record(f"pruned ({rule}) + retrained{in_rounds}, CSR", retrained, model_size_report(retrained).total_bytes("pruned"))
    shared = run.shared()
    fine_tuned = f", centroids fine-tuned ({run.ft_epochs} ep)" if run.ft_epochs else ""
    record(f"shared ({bits_label(s.bits)} bits{fine_tuned}, CSR)", shared, model_size_report(shared).total_bytes("shared"))

    path = run.compressed()
    start = time.perf_counter()
    decoded = build_model(s.model, widths(shared))
    load_compressed(path, decoded)
    decode_seconds = time.perf_counter() - start
    decoded.to(run.device)
    record("compressed file (Huffman)", decoded, path.stat().st_size)
    identical = _same_outputs(shared, decoded, run.test_loader)
    if not identical:
        raise RuntimeError(f"{path} does not reproduce the model's outputs")

    for stage in stages:
        stage.ratio = dense_bytes / stage.bytes
    train_loader = run.train_loader()
    results = {
        "requested": {**asdict(settings), "out": str(settings.out)},
        "settings": {**asdict(settings), "out": str(settings.out), "epochs": run.epochs, "jitter": settings.shift,
                     "fine_tune_epochs": run.ft_epochs, "data": train_loader.source,
                     "train_images": len(train_loader.labels)},
        "stages": [asdict(stage) for stage in stages],
        "file": str(path), "file_bytes": path.stat().st_size, "dense_bytes": dense_bytes,
        "decode_seconds": decode_seconds, "outputs_identical": identical,
        "size_report": size_report(path).rows(),
        "seconds": time.perf_counter() - started,  # this call, including any stage it trained
    }
    text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(path.with_suffix(".json"), text)
    atomic_write_text(settings.folder / "results.json", text)
    return results


def load_or_run(settings: Settings, shipped: bool = False) -> dict:
    """The results of ``run_pipeline(settings)``: read from ``<folder>/<stem>.json`` when an earlier run of
    exactly these settings wrote it, on the data this run would read (``expected_source``: MNIST, or quick
    mode's digits), and its compressed file is still beside it; otherwise run now (``shipped``: stages the reference
    run made are loaded, not trained). The output folder may be named differently (relative or absolute): the
    results are found in it, and their ``file`` points there. Results written before jitter existed were trained on
    plain images (jitter 0)."""
    path = settings.folder / f"{settings.stem}.json"
    if shipped and not settings.quick and not path.is_file():
        _copy_shipped_results(settings)
    if path.is_file():
        results = json.loads(path.read_text())
        wanted = asdict(settings)
        saved = results.get("requested", {})
        done = results.get("settings", {})
        same_data = done.get("jitter", 0) == settings.shift and done.get("data") == expected_source(settings.quick)
        compressed = settings.folder / Path(results["file"]).name
        # jitter is compared as trained (same_data): a request for None means the model's own, so None and 0 are
        # one run for LeNet-300-100 and must not make each other run again
        ignored = ("out", "progress", "reuse_base", "jitter")
        if all(saved.get(key) == value for key, value in wanted.items() if key not in ignored) \
                and same_data and compressed.is_file():
            return {**results, "file": str(compressed)}
    return run_pipeline(settings, shipped)


def _copy_shipped_results(settings: Settings) -> None:
    """Copy the reference run's results of ``settings`` and their compressed file, checked against their SHA-256,
    into the artifacts folder, when the package ships them (class mode: notebooks 09 and 11 read the files of
    runs that took hours)."""
    relative = settings.folder.relative_to(settings.out / mode_name(settings.quick))
    results, file = relative / f"{settings.stem}.json", relative / f"{settings.stem}.vcz"
    if reference.has(results) and reference.has(file):
        atomic_write_bytes(settings.folder / file.name, reference.read_bytes(file))
        atomic_write_bytes(settings.folder / results.name, reference.read_bytes(results))


def first_images(loader: Batches, count: int) -> Batches:
    """The first ``count`` images of ``loader`` (all of them when it holds fewer)."""
    return loader.subset(torch.arange(len(loader.labels)) < count)


@torch.no_grad()
def _same_outputs(a: nn.Module, b: nn.Module, loader: Batches) -> bool:
    """True when both models give bit-identical outputs on every test batch."""
    a.eval(), b.eval()
    return all(torch.equal(a(images), b(images)) for images, _ in loader)


def format_table(results: dict) -> str:
    """The pipeline's closing table: stage, test accuracy (and validation accuracy with ``holdout``), nonzero
    weights, size in bytes, ratio to dense."""
    width = max(28, *(len(s["stage"]) for s in results["stages"]))
    with_val = results["stages"][0].get("val_accuracy") is not None
    val_head = f" {'val acc':>9}" if with_val else ""
    lines = [f"{'stage':{width}}{val_head} {'test acc':>9} {'nonzero':>9} {'bytes':>11} {'ratio':>8}",
             "-" * (width + 41 + len(val_head))]
    for s in results["stages"]:
        val = f" {s['val_accuracy']:>8.2f}%" if with_val else ""
        lines.append(f"{s['stage']:{width}}{val} {s['accuracy']:>8.2f}% {s['nonzeros']:>9,} {s['bytes']:>11,} "
                     f"{s['ratio']:>7.1f}x")
    lines.append(f"decoded {results['file']} in {results['decode_seconds'] * 1000:.0f} ms; "
                 f"outputs identical to the model before encoding: {results['outputs_identical']}")
    return "\n".join(lines)
