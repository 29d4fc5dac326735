"""Supervised training of the A2J models on a person-crop cache (:mod:`unipose_training.supervised.crops`).

One trainer for the three input kinds (``model.kind``: depth, rgb, pointcloud). Each epoch: AdamW
on the A2J loss (:func:`unipose_ros.models.a2j_loss`) with a warm-up + cosine learning-rate
schedule per step, augmentation in crop space, then (every ``eval_every`` epochs) evaluation on
the test crops in **camera metres**: predicted crop units back to the optical frame with the
sample's :class:`~unipose_ros.core.crop.PersonCrop` (``to_camera`` for depth / rgb,
``points_to_camera`` for points) against the ground truth: MPJPE (mm), mAP@10cm and per-joint
tables. The crop centre of a test sample is the one the estimators would use (the matched depth
proposal; a ground-truth fallback centre where no proposal matched, reported separately).

Files written to ``--out`` (rank 0 only):

* ``last.pt``: model, optimizer, scheduler, epoch, step, RNG states, history (``--resume``
  continues from it exactly: the data order and the augmentation derive from (seed, epoch, index));
* ``best.pt``: the weights with the lowest test MPJPE so far, in the bundled checkpoint format
  (:func:`unipose_ros.models.save_checkpoint`; loadable by the estimators);
* ``metrics.json`` (per-epoch history and the latest evaluation) and ``report.md`` (tables).

``--export PATH`` writes the final weights (not the best-on-test ones, so that the reported test
numbers are not selected on the test set) with provenance: data folders, sample counts, epochs,
final test metrics, config hash, date and git commit.

Examples::

    python -m unipose_training.supervised.train --config config/train/depth_a2j.yaml --data data/crops \\
        --out runs/depth_a2j --export unipose_ros/checkpoints/depth_a2j.pt
    python -m unipose_training.supervised.train --config config/train/depth_a2j.yaml --data data/crops \\
        --out runs/depth_a2j --resume --max-minutes 50
    torchrun --nproc_per_node 2 -m unipose_training.supervised.train --config ... --data ... --out ...

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains on its share of each epoch
(DistributedSampler) inside DistributedDataParallel; evaluation sums are all-reduced; only rank 0
writes files and shows progress. ``batch_size`` is per process.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import random
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, Subset

from unipose_ros.core.config import load_yaml, stable_hash
from unipose_ros.core.crop import CropConfig
from unipose_ros.models import A2JConfig, a2j_loss, build_model, save_checkpoint
from unipose_training import distributed as dist_util
from unipose_training.supervised.augment import AugmentConfig
from unipose_training.supervised.crops import CropDataset

TRAIN_CHECKPOINT_FORMAT = "unipose_training.supervised/1"  # a stable file-format id (not the module path)


@dataclass(frozen=True)
class LossConfig:
    """Weights of :func:`unipose_ros.models.a2j_loss` (crop units; the surround term's
    dimensions follow the model kind: 2 for depth, 3 otherwise)."""

    alpha: float = 0.5
    xy_beta: float = 1.0
    depth_beta: float = 3.0
    regression_weight: float = 3.0
    surround_weight: float = 1.0


@dataclass(frozen=True)
class SupervisedConfig:
    """Everything a supervised run needs (YAML: config/train/*.yaml).

    Attributes:
        model: network (``model.input_size`` must equal ``crop.size``; ``model.n_points`` is the
            number of points per training sample).
        crop: crop geometry; the cache must have been cut with it.
        augment: augmentation strengths (training only).
        loss: loss weights.
        batch_size: samples per step and per process.
        epochs: passes over the training crops (the learning-rate schedule spans them).
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay (not applied to biases and norm parameters).
        warmup: fraction of all steps with a linear warm-up from 0 to ``lr``.
        final_lr: learning rate at the end of the cosine decay, as a fraction of ``lr``.
        grad_clip: gradient norm clip (0: none).
        seed: seed of the initialisation, the data order and the augmentation.
        workers: DataLoader worker processes (0: load in the training process).
        threads: torch CPU threads (0: leave torch's default / OMP_NUM_THREADS).
        eval_every: evaluate on the test crops every this many epochs (and after the last).
        eval_batch_size: batch size of the evaluation.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``.
        precision: ``fp32``, or ``bf16`` / ``fp16`` autocast on CUDA (fp16 with a grad scaler).
        channels_last: channels-last memory format for the image models on CUDA.
        use_fallbacks: train also on crops centred on the ground-truth fallback (no proposal matched).
        steps_per_epoch: cap on steps per epoch (0: a full pass); for quick runs.
        thresholds_m: distances of the mAP columns (metres).
        init: bundled checkpoint (``.pt``) whose weights start a new run (fine-tuning; its model
            config and crop geometry must equal this config's); empty: random initialisation. A resumed
            run ignores it.
    """

    model: A2JConfig = field(default_factory=A2JConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    batch_size: int = 32
    epochs: int = 40
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.03
    final_lr: float = 0.01
    grad_clip: float = 10.0
    seed: int = 0
    workers: int = 2
    threads: int = 0
    eval_every: int = 1
    eval_batch_size: int = 64
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = True
    use_fallbacks: bool = True
    steps_per_epoch: int = 0
    thresholds_m: tuple[float, ...] = (0.1,)
    init: str = ""

    def __post_init__(self) -> None:
        if self.model.input_size != self.crop.size:
            raise ValueError(f"model.input_size ({self.model.input_size}) must equal crop.size ({self.crop.size})")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.batch_size < 1 or self.epochs < 0 or self.eval_every < 1:
            raise ValueError("batch_size >= 1, epochs >= 0 and eval_every >= 1 required")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")


def load_config(path: str | Path) -> SupervisedConfig:
    """Read a :class:`SupervisedConfig` from YAML (missing keys take the defaults)."""
    return load_yaml(SupervisedConfig, path)


def config_hash(cfg: SupervisedConfig) -> str:
    """Short stable hash of the whole configuration."""
    return stable_hash(cfg)


def lr_factor(step: int, total: int, warmup: float, final: float) -> float:
    """Learning-rate multiplier at ``step`` of ``total``: linear warm-up over ``warmup * total``
    steps, then cosine from 1 to ``final``."""
    w = int(round(warmup * total))
    if step < w:
        return (step + 1) / w
    t = min(max((step - w) / max(total - w, 1), 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _autocast(device: torch.device, precision: str):
    if device.type == "cuda" and precision != "fp32":
        return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    import contextlib

    return contextlib.nullcontext()


def _to_input(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


# ------------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate(model: torch.nn.Module, ds: CropDataset, cfg: SupervisedConfig, device: torch.device,
             workers: int = 0) -> dict:
    """Test metrics of ``model`` on ``ds`` (all ranks call it; each evaluates its strided share
    and the sums are all-reduced, so every rank returns the same numbers).

    Returns a JSON-ready dict: ``samples``, ``loss`` (crop units), ``mpjpe_mm``,
    ``map_<k>cm``, ``per_joint_mpjpe_mm``, ``per_joint_map_<k>cm``, and the same two headline
    numbers for the proposal-centred samples only (``proposal_*``) with their count.
    """
    was_training = model.training
    model.eval()
    names = ds.joint_set.joints
    j, thr = len(names), np.asarray(cfg.thresholds_m, dtype=np.float64)
    sums = {"err": np.zeros((2, j)), "count": np.zeros((2, j)), "within": np.zeros((2, len(thr), j)),
            "loss": np.zeros(1), "batches": np.zeros(1)}
    share = Subset(ds, dist_util.shard_indices(len(ds)))
    loader = DataLoader(share, batch_size=cfg.eval_batch_size, shuffle=False, num_workers=workers)
    cl = cfg.channels_last and device.type == "cuda"
    for batch in loader:
        with _autocast(device, cfg.precision):
            out = model(_to_input(batch["input"], device, cl))
        loss = a2j_loss(out, batch["target"].to(device), batch["valid"].to(device), **asdict(cfg.loss),
                        surround_dims=cfg.model.surround_dims)
        sums["loss"] += float(loss["total"]) * len(batch["index"])
        sums["batches"] += len(batch["index"])
        pred = out.joints.float().cpu().numpy()
        gt = batch["joints_cam"].numpy().astype(np.float64)
        for b, i in enumerate(batch["index"].tolist()):
            xyz = ds.to_camera(i, pred[b])
            err = np.linalg.norm(xyz - gt[b], axis=-1)
            ok = np.isfinite(err) & np.isfinite(gt[b]).all(axis=-1)
            src = int(ds.centre_source[i] != 0)
            sums["err"][src] += np.where(ok, err, 0.0)
            sums["count"][src] += ok
            sums["within"][src] += (err[None] <= thr[:, None]) & ok
    tot = {k: v.numpy() for k, v in dist_util.all_reduce_dict(sums).items()}
    model.train(was_training)

    def headline(err: np.ndarray, count: np.ndarray, within: np.ndarray) -> dict:
        res: dict[str, Any] = {"mpjpe_mm": float(err.sum() / count.sum() * 1000) if count.sum() else None}
        for t, w in zip(thr, within):
            res[f"map_{round(t * 100)}cm"] = float(np.mean(w / np.maximum(count, 1))) if count.sum() else None
        return res

    err, count, within = tot["err"].sum(0), tot["count"].sum(0), tot["within"].sum(0)
    res = {"samples": int(tot["batches"][0]), "loss": float(tot["loss"][0] / max(tot["batches"][0], 1)),
           **headline(err, count, within)}
    res["per_joint_mpjpe_mm"] = {n: float(e / c * 1000) if c else None for n, e, c in zip(names, err, count)}
    for t, w in zip(thr, within):
        res[f"per_joint_map_{round(t * 100)}cm"] = {n: float(x / c) if c else None for n, x, c in zip(names, w, count)}
    prop = headline(tot["err"][0], tot["count"][0], tot["within"][0])
    res.update({f"proposal_{k}": v for k, v in prop.items()})
    res["proposal_samples"] = int(round(tot["count"][0].max())) if tot["count"][0].size else 0
    return res


# ---------------------------------------------------------------------------------------- report


def write_report(path: Path, cfg: SupervisedConfig, history: list[dict], latest: dict | None,
                 best: dict | None) -> None:
    """``report.md``: one row per evaluated epoch, then per-joint tables of the latest evaluation."""
    key = f"map_{round(cfg.thresholds_m[0] * 100)}cm"
    lines = [f"# Supervised training: {cfg.model.kind} A2J", "",
             f"config hash `{config_hash(cfg)}`; crop {cfg.crop.size} px / {cfg.crop.cube_m} m; "
             f"batch {cfg.batch_size}; lr {cfg.lr}", "",
             f"| epoch | train loss | test loss | MPJPE (mm) | {key} | proposal-centred MPJPE (mm) | samples/s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]

    def f(x: Any, fmt: str = "{:.1f}") -> str:
        return "-" if x is None else fmt.format(x)

    for h in history:
        t = h.get("test") or {}
        lines.append(f"| {h['epoch']} | {f(h['train_loss'], '{:.4f}')} | {f(t.get('loss'), '{:.4f}')} | "
                     f"{f(t.get('mpjpe_mm'))} | {f(t.get(key), '{:.3f}')} | {f(t.get('proposal_mpjpe_mm'))} | "
                     f"{f(h.get('samples_per_s'))} |")
    if best:
        lines += ["", f"Best test MPJPE {best['mpjpe_mm']:.1f} mm at epoch {best['epoch']} (best.pt)."]
    if latest:
        lines += ["", f"## Per joint (epoch {latest.get('epoch')})", "", f"| joint | MPJPE (mm) | {key} |",
                  "|---|---:|---:|"]
        for name, e in latest["per_joint_mpjpe_mm"].items():
            lines.append(f"| {name} | {f(e)} | {f(latest[f'per_joint_{key}'][name], '{:.3f}')} |")
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------ train


@dataclass
class RunResult:
    """What :func:`train` returns: epochs completed, whether it stopped early, the latest test
    metrics (None if never evaluated), the output folder, the per-epoch history and the trained
    model (unwrapped from DistributedDataParallel; this process's copy)."""

    epochs_done: int
    stopped_early: bool
    metrics: dict | None
    out: Path
    history: list = field(default_factory=list)
    model: torch.nn.Module | None = None


def _datasets(cfg: SupervisedConfig, data: Path) -> tuple[CropDataset, CropDataset | None]:
    """Train crops (``data/train``) and test crops (``data/test``; None when there are none: a
    user's own recordings have no ground truth to test on)."""
    common = dict(kind=cfg.model.kind, n_points=cfg.model.n_points, seed=cfg.seed, crop=cfg.crop,
                  joint_set_name=cfg.model.joint_set)
    train_ds = CropDataset(data / "train", train=True, augment=cfg.augment, use_fallbacks=cfg.use_fallbacks,
                           **common)
    test_dir = data / "test"
    has_test = test_dir.is_dir() and any(test_dir.glob("*.npz"))
    test_ds = CropDataset(test_dir, train=False, **common) if has_test else None
    return train_ds, test_ds


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _provenance(cfg: SupervisedConfig, data: Path, train_ds: CropDataset, test_ds: CropDataset | None, epochs: int,
                steps: int, metrics: dict | None, weights: str) -> dict:
    return {
        "trainer": "unipose_training.supervised.train",
        "weights": weights,
        "data": {"train": str(data / "train"), "test": str(data / "test"), "train_samples": len(train_ds),
                 "test_samples": len(test_ds) if test_ds else 0, "train_shards": len(train_ds.files),
                 "test_shards": len(test_ds.files) if test_ds else 0},
        "epochs": int(epochs), "steps": int(steps),
        "metrics": metrics or {},
        "config_hash": config_hash(cfg),
        "training_config": json.loads(json.dumps(asdict(cfg))),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "torch": str(torch.__version__),
    }


def train(cfg: SupervisedConfig, data: str | Path, out: str | Path, resume: bool = False,
          max_minutes: float | None = None, stop_after: int | None = None, export: str | Path | None = None,
          progress: bool = True, log: Callable[[str], None] = print) -> RunResult:
    """Train ``cfg.model`` on ``data/train`` crops, evaluate on ``data/test``, write ``out``.

    Args:
        cfg: the run's configuration (``cfg.epochs`` sets the schedule length).
        data: crop cache folder with ``train/`` and ``test/`` shards.
        out: run folder (created).
        resume: continue from ``out/last.pt`` (model, optimizer, schedule, epoch, RNG).
        max_minutes: stop at the first epoch boundary after which another epoch (as long as the
            last one) would end past this budget; checkpoints are saved as usual.
        stop_after: stop after this many epochs in this call (the schedule still spans
            ``cfg.epochs``; resume later).
        export: write the final weights there as a bundled checkpoint with provenance.
        progress: tqdm bars (rank 0 only).
        log: where one-line summaries go (rank 0 only).
    """
    from tqdm import tqdm

    t_start = time.monotonic()
    info = dist_util.init_distributed(cfg.device)
    main = info.is_main
    say = log if main else (lambda _msg: None)
    device = info.device
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    data, out = Path(data), Path(out)
    if main:
        out.mkdir(parents=True, exist_ok=True)

    train_ds, test_ds = _datasets(cfg, data)
    sampler = dist_util.EpochSampler(train_ds, shuffle=True, seed=cfg.seed, drop_last=True)
    drop_last = len(sampler) > cfg.batch_size
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        pin_memory=device.type == "cuda", drop_last=drop_last, persistent_workers=cfg.workers > 0)
    steps_per_epoch = len(loader) if not cfg.steps_per_epoch else min(cfg.steps_per_epoch, len(loader))
    total_steps = max(steps_per_epoch * cfg.epochs, 1)

    model = build_model(cfg.model).to(device)
    cl = cfg.channels_last and device.type == "cuda" and cfg.model.kind != "pointcloud"
    if cl:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, cfg.warmup, cfg.final_lr))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.precision == "fp16")

    start_epoch, step, history, best = 0, 0, [], None
    last_path = out / "last.pt"
    if resume and last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        if state.get("format") != TRAIN_CHECKPOINT_FORMAT:
            raise ValueError(f"{last_path} is not a training checkpoint of this trainer (format "
                             f"{state.get('format')!r}); start a new run in another --out folder")
        if state["config"]["model"] != json.loads(json.dumps(asdict(cfg.model))):
            raise ValueError(f"{last_path} holds a different model config than {cfg.model.kind} in the given config: "
                             "resume with the config of that run or start a new --out folder")
        if state["config_hash"] != config_hash(cfg):
            say(f"warning: the config differs from the one {last_path} was trained with (hash "
                f"{state['config_hash']} vs {config_hash(cfg)})")
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        start_epoch, step, history, best = state["epoch"], state["step"], state["history"], state["best"]
        say(f"resumed from {last_path}: {start_epoch} epochs done, step {step}")
    elif resume:
        say(f"no {last_path} yet: starting a new run")
    if start_epoch == 0 and step == 0 and cfg.init:
        _load_init(_unwrap(model), cfg)
        say(f"initialised from {cfg.init}")

    if info.distributed:
        ddp_kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
        model = torch.nn.parallel.DistributedDataParallel(model, **ddp_kw)
    say(f"{cfg.model.kind} A2J: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"{len(train_ds)} train / {len(test_ds) if test_ds else 0} test crops, "
        f"{steps_per_epoch} steps/epoch x {cfg.epochs} epochs, "
        f"{info.world_size} process(es) on {device}")

    metrics: dict | None = history[-1].get("test") if history else None
    stopped_early = False
    epochs_done = start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.monotonic()
        sampler.set_epoch(epoch)
        model.train()
        loss_acc = torch.zeros(3, dtype=torch.float64, device=device)  # summed on the device: no sync per step
        seen = 0
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step",
                   disable=not (progress and main), leave=False)
        for k, batch in enumerate(loader):
            if k >= steps_per_epoch:
                break
            x = _to_input(batch["input"], device, cl)
            target, valid = batch["target"].to(device, non_blocking=True), batch["valid"].to(device, non_blocking=True)
            with _autocast(device, cfg.precision):
                outp = model(x)
            losses = a2j_loss(outp, target, valid, **asdict(cfg.loss), surround_dims=cfg.model.surround_dims)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            n = len(batch["index"])
            loss_acc += torch.stack([losses[name].detach() for name in ("total", "regression", "surround")]) * n
            seen += n
            bar.update(1)
            if main and progress and (k % 10 == 0 or k + 1 == steps_per_epoch):
                bar.set_postfix(loss=f"{float(loss_acc[0]) / max(seen, 1):.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        bar.close()
        loss_sum = loss_acc.cpu().numpy()
        dist_util.sync_buffers(_unwrap(model))
        sums = dist_util.all_reduce_sum(np.concatenate([loss_sum, [seen]])).numpy()
        elapsed = time.monotonic() - t0
        record: dict[str, Any] = {"epoch": epoch + 1, "step": step, "train_loss": float(sums[0] / max(sums[3], 1)),
                                  "train_regression": float(sums[1] / max(sums[3], 1)),
                                  "train_surround": float(sums[2] / max(sums[3], 1)),
                                  "lr": float(scheduler.get_last_lr()[0]), "train_seconds": round(elapsed, 2),
                                  "samples_per_s": round(float(sums[3]) / max(elapsed, 1e-9), 1)}
        last = epoch + 1 == cfg.epochs
        if test_ds is not None and ((epoch + 1) % cfg.eval_every == 0 or last):
            metrics = evaluate(_unwrap(model), test_ds, cfg, device)
            metrics["epoch"] = epoch + 1
            record["test"] = metrics
        history.append(record)
        if main:
            improved = metrics is not None and "test" in record and metrics["mpjpe_mm"] is not None and (
                best is None or metrics["mpjpe_mm"] < best["mpjpe_mm"])
            if improved:
                best = {"epoch": epoch + 1, "mpjpe_mm": metrics["mpjpe_mm"]}
                save_checkpoint(out / "best.pt", _unwrap(model), cfg.model, cfg.crop,
                                _provenance(cfg, data, train_ds, test_ds, epoch + 1, step, metrics, "best on test"))
            _save_atomic({"format": TRAIN_CHECKPOINT_FORMAT, "config": json.loads(json.dumps(asdict(cfg))),
                          "config_hash": config_hash(cfg), "model": _unwrap(model).state_dict(),
                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "scaler": scaler.state_dict(), "epoch": epoch + 1, "step": step, "rng": _rng_state(),
                          "history": history, "best": best}, last_path)
            (out / "metrics.json").write_text(json.dumps({"config_hash": config_hash(cfg), "history": history,
                                                          "latest": metrics, "best": best}, indent=1))
            write_report(out / "report.md", cfg, [h for h in history if "test" in h] or history, metrics, best)
            t = record.get("test")
            say(f"epoch {epoch + 1}/{cfg.epochs}: train loss {record['train_loss']:.4f}, "
                f"{record['samples_per_s']:.0f} samples/s" + (
                    f"; test MPJPE {t['mpjpe_mm']:.1f} mm, mAP@10cm {t.get('map_10cm', float('nan')):.3f}" if t else ""))
        dist_util.barrier()
        epochs_done = epoch + 1
        last_epoch_s = time.monotonic() - t0
        done_now = epoch + 1 - start_epoch
        stop = stop_after is not None and done_now >= stop_after
        if max_minutes is not None and not last:
            stop = stop or (time.monotonic() - t_start + last_epoch_s) > max_minutes * 60
        if dist_util.all_reduce_max(float(stop)) > 0 and not last:
            stopped_early = True
            say(f"stopping after epoch {epoch + 1} (resume with --resume)")
            break

    if export is not None and not stopped_early:
        if test_ds is not None and (metrics is None or metrics.get("epoch") != epochs_done):
            metrics = evaluate(_unwrap(model), test_ds, cfg, device)
            metrics["epoch"] = epochs_done
        if main:
            export = Path(export)
            export.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(export, _unwrap(model), cfg.model, cfg.crop,
                            _provenance(cfg, data, train_ds, test_ds, epochs_done, step, metrics, "final"))
            say(f"exported {export} ({export.stat().st_size / 1e6:.1f} MB)"
                + (f": test MPJPE {metrics['mpjpe_mm']:.1f} mm" if metrics else " (no test crops)"))
    elif export is not None:
        say("not exporting: training stopped before the last epoch")
    dist_util.barrier()
    return RunResult(epochs_done=epochs_done, stopped_early=stopped_early, metrics=metrics, out=out, history=history,
                     model=_unwrap(model))


def _load_init(model: torch.nn.Module, cfg: SupervisedConfig) -> None:
    """Copy the weights of the bundled checkpoint ``cfg.init`` into ``model`` (ValueError when
    its model config or crop geometry differ from ``cfg``'s; a model trained on crops with other
    people kept may be fine-tuned on masked crops and back)."""
    from unipose_ros.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(cfg.init, expect_kind=cfg.model.kind, expect_joint_set=cfg.model.joint_set,
                             expect_input_size=cfg.model.input_size)
    if asdict(loaded.config) != asdict(cfg.model):
        raise ValueError(f"init {cfg.init}: its model config differs from the training config's model: "
                         f"use the config it was trained with (its provenance) or leave init empty")
    geometry = ("size", "cube_m")  # mask_people may change: it says what a crop shows, not where
    if any(getattr(loaded.crop, k) != getattr(cfg.crop, k) for k in geometry):
        raise ValueError(f"init {cfg.init}: crop {asdict(loaded.crop)} differs from the config's {asdict(cfg.crop)} "
                         f"in {' or '.join(geometry)}")
    model.load_state_dict(loaded.model.state_dict())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train an A2J model on the person-crop cache.")
    ap.add_argument("--config", type=Path, required=True, help="YAML SupervisedConfig (config/train/*.yaml)")
    ap.add_argument("--data", type=Path, required=True, help="crop cache with train/ and test/ shards")
    ap.add_argument("--out", type=Path, required=True, help="run folder (last.pt, best.pt, metrics.json, report.md)")
    ap.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    ap.add_argument("--epochs", type=int, help="override the config's epochs (the schedule's length)")
    ap.add_argument("--max-minutes", type=float, help="stop at an epoch boundary within this budget")
    ap.add_argument("--stop-after", type=int, help="stop after this many epochs in this run (resume later)")
    ap.add_argument("--export", type=Path, help="write the final weights as a bundled checkpoint here")
    ap.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    ap.add_argument("--workers", type=int, help="override the config's DataLoader workers")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override top-level scalar config keys, e.g. batch_size=64 lr=5e-4")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    over: dict[str, Any] = {}
    scalars = {k for k, v in asdict(cfg).items() if not isinstance(v, dict)}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in scalars:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(scalars)}")
        current = getattr(cfg, key)
        parsed = yaml.safe_load(value)
        if isinstance(current, float):
            parsed = float(value)  # YAML 1.1 reads "5e-4" as a string
        elif isinstance(current, tuple) and isinstance(parsed, list):
            parsed = tuple(parsed)
        over[key] = parsed
    for key in ("epochs", "device", "workers"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    cfg = replace(cfg, **over)
    try:
        train(cfg, args.data, args.out, resume=args.resume, max_minutes=args.max_minutes, stop_after=args.stop_after,
              export=args.export, progress=not args.no_progress)
    finally:
        dist_util.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
