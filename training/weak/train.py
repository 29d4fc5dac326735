"""Weakly supervised training of the point-cloud network: teacher 2D keypoints are the only labels.

The network (:class:`unipose_ros.models.point_a2j.PointA2J`) sees a person's points in normalised
cube coordinates and, with the cross-modality interaction on (``model.point_features`` = J), one
extra channel per joint: how close the point's image projection is to the teacher's keypoint
(:func:`unipose_ros.core.keypoint_features.keypoint_point_features`). Its joints are mapped to
metres in the camera optical frame (``centre + q * unit_m``, differentiable) and trained with the
weak losses of :mod:`unipose_training.weak.losses` on windows of consecutive frames of one person
(ray, bone length, symmetry, surface, and over the window temporal smoothness and bone-length
consistency). Ground truth, when a recording has it, is read only to report how good the
network's 3D joints are (``diagnostic`` metrics); it never enters a loss.

Run (one process, or ``torchrun --nproc_per_node N`` for DDP: gloo on CPU, nccl on GPU)::

    python -m unipose_training.weak.train --config config/weak/reduced.yaml --samples RUN/samples --out RUN/weak
"""
from __future__ import annotations

import argparse
import datetime
import json
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from unipose_ros.core.config import from_dict, load_yaml, stable_hash
from unipose_ros.core.crop import CropConfig
from unipose_ros.core.joints import joint_set
from unipose_ros.models import build_model
from unipose_ros.models.checkpoint import save_checkpoint
from unipose_ros.models.config import A2JConfig
from unipose_training import distributed as dist_util
from unipose_training.supervised.train import (
    _git_commit,
    _param_groups,
    _rng_state,
    _save_atomic,
    _set_rng_state,
    _unwrap,
    lr_factor,
)
from unipose_training.weak.losses import WeakLossConfig, bone_prior, weak_loss
from unipose_training.weak.samples import WeakSampleDataset, WeakSampleStream

WEAK_CHECKPOINT_FORMAT = "unipose_training.weak_train/1"  # a stable file-format id (not the module path)


def _default_model() -> A2JConfig:
    return A2JConfig(kind="pointcloud", n_points=1024, point_features=15)


@dataclass(frozen=True)
class WeakTrainConfig:
    """Everything a weak run needs (YAML: the ``weak:`` section of config/weak/*.yaml).

    Attributes:
        model: the point network; ``point_features`` J switches the cross-modality interaction
            (teacher keypoint channels per point) on, 0 off.
        crop: crop geometry the samples were cut with.
        losses: weights and ablation switches of the weak losses.
        window: consecutive frames per training item (>= 3 for the temporal terms).
        sigma_px: width of the keypoint channels (pixels).
        height_m: body height of the bone-length prior (metres).
        batch_size: windows per step and per process.
        epochs, lr, weight_decay, warmup, final_lr, grad_clip: AdamW with cosine schedule.
        seed: initialisation, data order and point subsets.
        workers: DataLoader workers. threads: torch CPU threads (0: default).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        steps_per_epoch: cap on steps per epoch (0: full passes).
        eval_every: diagnostic evaluation every this many epochs (and after the last).
        stream: read the sample shards one at a time (:class:`WeakSampleStream`; for recordings
            larger than memory); needs ``steps_per_epoch``.
    """

    model: A2JConfig = field(default_factory=_default_model)
    crop: CropConfig = field(default_factory=CropConfig)
    losses: WeakLossConfig = field(default_factory=WeakLossConfig)
    window: int = 3
    sigma_px: float = 8.0
    height_m: float = 1.70
    batch_size: int = 8
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    final_lr: float = 0.02
    grad_clip: float = 10.0
    seed: int = 0
    workers: int = 0
    threads: int = 0
    device: str = "auto"
    steps_per_epoch: int = 0
    eval_every: int = 1
    stream: bool = False

    def __post_init__(self) -> None:
        if self.model.kind != "pointcloud":
            raise ValueError(f"the weak stage trains the point network (model.kind pointcloud), got {self.model.kind!r}")
        if self.window < 1 or self.batch_size < 1 or self.epochs < 0:
            raise ValueError("window >= 1, batch_size >= 1 and epochs >= 0 required")
        if self.stream and self.steps_per_epoch <= 0:
            raise ValueError("stream: true reads the shards one at a time and needs steps_per_epoch > 0 (every "
                             "torchrun rank must run the same number of steps)")

    @property
    def features(self) -> bool:
        """True when the cross-modality interaction (teacher keypoint channels) is on."""
        return self.model.point_features > 0


def config_hash(cfg: WeakTrainConfig) -> str:
    """Short stable hash of the whole configuration."""
    return stable_hash(cfg)


def load_config(path: str | Path) -> WeakTrainConfig:
    """Read a :class:`WeakTrainConfig` from YAML (missing keys take the defaults)."""
    return load_yaml(WeakTrainConfig, path)


def predict_metres(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device
                   ) -> tuple[torch.Tensor, Any]:
    """Run the network on a batch of windows.

    Args:
        batch: items of :class:`WeakSampleDataset` stacked: ``points`` (B, T, N, 3), ``features``
            (B, T, N, C), ``centre`` (B, T, 3) metres, ``unit_m`` (B, T).
    Returns:
        joints (B, T, J, 3) metres in the camera optical frame, and the raw
        :class:`~unipose_ros.models.a2j.A2JOutput` (batch B*T, crop units).
    """
    pts = batch["points"].to(device)
    b, t, n, _ = pts.shape
    x = pts.reshape(b * t, n, 3)
    feats = batch["features"].to(device)
    if feats.shape[-1]:
        x = torch.cat([x, feats.reshape(b * t, n, -1)], dim=-1)
    out = model(x)
    q = out.joints.reshape(b, t, -1, 3)
    centre = batch["centre"].to(device).float().unsqueeze(2)
    unit = batch["unit_m"].to(device).float().reshape(b, t, 1, 1)
    return centre + q * unit, out


def keypoint_distance_px(joints: np.ndarray, batch: dict[str, torch.Tensor], min_conf: float = 0.3) -> np.ndarray:
    """(B, J) pixels: distance of each joint's image projection to its teacher keypoint (first
    frame of each window), NaN where the keypoint's confidence is under ``min_conf`` or unknown.

    Args:
        joints: (B, J, 3) metres, camera optical frame.
        batch: items with ``intrinsics`` (B, T, 4) fx fy cx cy, ``uv`` (B, T, J, 2), ``conf`` (B, T, J).
    """
    k = batch["intrinsics"][:, 0].double().numpy()
    uv = batch["uv"][:, 0].double().numpy()
    conf = batch["conf"][:, 0].numpy()
    z = np.maximum(joints[..., 2], 1e-3)
    proj = np.stack([k[:, None, 0] * joints[..., 0] / z + k[:, None, 2],
                     k[:, None, 1] * joints[..., 1] / z + k[:, None, 3]], -1)
    d = np.linalg.norm(proj - uv, axis=-1)
    return np.where((conf >= min_conf) & np.isfinite(d), d, np.nan)


@torch.no_grad()
def diagnose(model: torch.nn.Module, ds: WeakSampleDataset | list[Path], cfg: WeakTrainConfig, device: torch.device,
             batch_size: int = 32) -> dict:
    """3D accuracy of the network on the samples that carry ground truth (diagnostic only).

    ``ds``: a window-1 dataset, or a list of shard files read one at a time (bounded memory).

    Returns ``{"samples", "mpjpe_mm", "map_10cm", "ray_px"}`` (``samples`` 0 and None values
    when no sample has ground truth; ``ray_px`` the median reprojection distance to the teacher
    keypoints with confidence >= 0.3, in pixels). All ranks return the same numbers.
    """
    was = model.training
    model.eval()
    sums = {"err": np.zeros(1), "within": np.zeros(1), "count": np.zeros(1), "samples": np.zeros(1)}
    reproj: list[np.ndarray] = []
    parts = [ds] if isinstance(ds, WeakSampleDataset) else (
        WeakSampleDataset([f], window=1, n_points=cfg.model.n_points, features=cfg.features, sigma_px=cfg.sigma_px,
                          train=False, seed=cfg.seed) for f in ds)
    batches = (b for part in parts
               for b in DataLoader(Subset(part, dist_util.shard_indices(len(part))), batch_size=batch_size))
    for batch in batches:
        joints, _ = predict_metres(model, batch, device)
        j = joints[:, 0].double().cpu().numpy()
        gt = batch["joints_gt"][:, 0].double().numpy()
        ok = np.isfinite(gt).all(-1)
        err = np.linalg.norm(j - np.where(ok[..., None], gt, 0.0), axis=-1)
        sums["err"] += err[ok].sum()
        sums["within"] += (err[ok] <= 0.1).sum()
        sums["count"] += ok.sum()
        sums["samples"] += ok.any(-1).sum()
        d = keypoint_distance_px(j, batch)
        reproj.append(d[np.isfinite(d)])
    tot = {k: float(v.numpy()[0]) for k, v in dist_util.all_reduce_dict(sums).items()}
    model.train(was)
    r = np.concatenate(reproj) if reproj else np.zeros(0)
    n = tot["count"]
    return {"samples": int(tot["samples"]), "mpjpe_mm": tot["err"] / n * 1000 if n else None,
            "map_10cm": tot["within"] / n if n else None, "ray_px": float(np.median(r)) if r.size else None}


@dataclass
class WeakRunResult:
    """What :func:`train_weak` returns: epochs done, whether it stopped early, the last
    diagnostic metrics, the run folder and the trained model (unwrapped)."""

    epochs_done: int
    stopped_early: bool
    metrics: dict | None
    out: Path
    history: list = field(default_factory=list)
    model: torch.nn.Module | None = None


def _provenance(cfg: WeakTrainConfig, samples: list[Path], n: int, epochs: int, step: int, metrics: dict | None,
                weights: str) -> dict:
    return {"trainer": "unipose_training.weak.train", "weights": weights, "supervision": "2D teacher keypoints only",
            "data": {"samples": [str(p) for p in samples], "train_samples": n}, "epochs": int(epochs),
            "steps": int(step), "metrics": metrics or {}, "config_hash": config_hash(cfg),
            "training_config": json.loads(json.dumps(asdict(cfg))),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": _git_commit(), "torch": str(torch.__version__)}


def sample_files(samples: str | Path | list[Path]) -> list[Path]:
    """The ``*.npz`` sample shards of a folder (sorted), or the given list."""
    if isinstance(samples, (list, tuple)):
        return [Path(p) for p in samples]
    files = sorted(Path(samples).glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no sample shards (*.npz) in {samples}: run the samples stage first "
                                "(python -m unipose_training.weak.pipeline ... --until samples)")
    return files


def train_weak(cfg: WeakTrainConfig, samples: str | Path | list[Path], out: str | Path, resume: bool = False,
               export: str | Path | None = None, stop_after: int | None = None, progress: bool = True,
               log: Callable[[str], None] = print) -> WeakRunResult:
    """Train the point network on the weak samples with the weak losses only.

    Args:
        cfg: the run's configuration.
        samples: folder of sample shards (or a list of shard files).
        out: run folder: ``last.pt`` (resumable state), ``metrics.json``, ``report.md``, and the
            final checkpoint ``weak_pointcloud.pt`` (or ``export``).
        resume: continue from ``out/last.pt``.
        stop_after: stop after this many epochs in this call (resume later; nothing exported).
    """
    from tqdm import tqdm

    info = dist_util.init_distributed(cfg.device)
    main = info.is_main
    say = log if main else (lambda _m: None)
    device = info.device
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    out = Path(out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    files = sample_files(samples)
    js = joint_set(cfg.model.joint_set)
    common = dict(window=cfg.window, n_points=cfg.model.n_points, features=cfg.features, sigma_px=cfg.sigma_px,
                  seed=cfg.seed)
    if cfg.stream:
        train_ds: WeakSampleDataset | WeakSampleStream = WeakSampleStream(files, train=True, **common)
        evaluation: WeakSampleDataset | list[Path] = files
        n_samples = sum(_shard_samples(f) for f in files)
        sampler = None
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, num_workers=cfg.workers, drop_last=True)
        steps_per_epoch = cfg.steps_per_epoch
    else:
        train_ds = WeakSampleDataset(files, train=True, **common)
        evaluation = WeakSampleDataset(files, train=False, **{**common, "window": 1})
        n_samples = len(evaluation)
        sampler = dist_util.EpochSampler(train_ds, shuffle=True, seed=cfg.seed, drop_last=True)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                            drop_last=len(sampler) > cfg.batch_size, persistent_workers=cfg.workers > 0)
        steps_per_epoch = len(loader) if not cfg.steps_per_epoch else min(cfg.steps_per_epoch, len(loader))
    total = max(steps_per_epoch * cfg.epochs, 1)
    reference = torch.as_tensor(bone_prior(js, cfg.height_m), dtype=torch.float32, device=device)

    model = build_model(cfg.model).to(device)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, cfg.warmup, cfg.final_lr))
    start, step, history = 0, 0, []
    last_path = out / "last.pt"
    if resume and last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        if state.get("format") != WEAK_CHECKPOINT_FORMAT or state.get("config_hash") != config_hash(cfg):
            raise ValueError(f"{last_path} was written by another run (format {state.get('format')!r}, config "
                             f"{state.get('config_hash')} vs {config_hash(cfg)}); use another --out or the same config")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start, step, history = state["epoch"], state["step"], state["history"]
        say(f"resumed from {last_path}: {start} epochs done")
    if info.distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    say(f"weak point network ({'with' if cfg.features else 'without'} teacher keypoint channels): "
        f"{'streamed' if cfg.stream else len(train_ds)} windows of {cfg.window} from {n_samples} samples, "
        f"{steps_per_epoch} steps/epoch x "
        f"{cfg.epochs} epochs, {info.world_size} process(es) on {device}")

    names = ["total", *[k for k in ("ray", "bone", "symmetry", "temporal", "consistency", "surface")]]
    metrics: dict | None = history[-1].get("diagnostic") if history else None
    stopped = False
    done = start
    for epoch in range(start, cfg.epochs):
        t0 = time.monotonic()
        (sampler or train_ds).set_epoch(epoch)
        model.train()
        acc = torch.zeros(len(names) + 1, dtype=torch.float64)
        bar = tqdm(total=steps_per_epoch, desc=f"weak epoch {epoch + 1}/{cfg.epochs}", unit="step",
                   disable=not (progress and main), leave=False)
        for k, batch in enumerate(_batches(loader, steps_per_epoch)):
            joints, _ = predict_metres(model, batch, device)
            dev_batch = {key: batch[key].to(device) for key in ("uv", "conf", "intrinsics", "surface_z", "valid")}
            losses = weak_loss(joints, dev_batch, js, cfg.losses, reference)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            n = joints.shape[0]
            acc += torch.tensor([float(losses[m].detach()) if m in losses else 0.0 for m in names] + [1.0],
                                dtype=torch.float64) * torch.tensor([n] * len(names) + [n], dtype=torch.float64)
            bar.update(1)
            if progress and main and k % 10 == 0:
                bar.set_postfix(loss=f"{float(acc[0] / max(float(acc[-1]), 1)):.4f}")
        bar.close()
        dist_util.sync_buffers(_unwrap(model))
        sums = dist_util.all_reduce_sum(acc.numpy()).numpy()
        seen = max(sums[-1], 1)
        record: dict[str, Any] = {"epoch": epoch + 1, "step": step, "seconds": round(time.monotonic() - t0, 1),
                                  "lr": float(scheduler.get_last_lr()[0]),
                                  **{f"train_{m}": float(sums[i] / seen) for i, m in enumerate(names)}}
        last = epoch + 1 == cfg.epochs
        if (epoch + 1) % cfg.eval_every == 0 or last:
            metrics = diagnose(_unwrap(model), evaluation, cfg, device)
            metrics["epoch"] = epoch + 1
            record["diagnostic"] = metrics
        history.append(record)
        if main:
            _save_atomic({"format": WEAK_CHECKPOINT_FORMAT, "config": json.loads(json.dumps(asdict(cfg))),
                          "config_hash": config_hash(cfg), "model": _unwrap(model).state_dict(),
                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "epoch": epoch + 1, "step": step, "rng": _rng_state(), "history": history}, last_path)
            (out / "metrics.json").write_text(json.dumps({"config_hash": config_hash(cfg), "history": history,
                                                          "latest": metrics}, indent=1))
            write_report(out / "report.md", cfg, history)
            d = record.get("diagnostic") or {}
            say(f"weak epoch {epoch + 1}/{cfg.epochs}: loss {record['train_total']:.4f}"
                + (f"; 3D error vs ground truth {d['mpjpe_mm']:.1f} mm, mAP@10cm {d['map_10cm']:.3f}"
                   if d.get("mpjpe_mm") is not None else "")
                + (f"; reprojection {d['ray_px']:.1f} px" if d.get("ray_px") is not None else ""))
        dist_util.barrier()
        done = epoch + 1
        if stop_after is not None and done - start >= stop_after and not last:
            stopped = True
            say(f"stopping after epoch {done} (resume with --resume)")
            break

    if not stopped:
        export = Path(export) if export is not None else out / "weak_pointcloud.pt"
        if main:
            save_checkpoint(export, _unwrap(model), cfg.model, cfg.crop,
                            _provenance(cfg, files, n_samples, done, step, metrics, "final"))
            say(f"exported {export}")
    dist_util.barrier()
    return WeakRunResult(epochs_done=done, stopped_early=stopped, metrics=metrics, out=out, history=history,
                         model=_unwrap(model))


def _shard_samples(path: Path) -> int:
    """Samples in a shard (reads only its ``stamp`` array)."""
    with np.load(path, allow_pickle=False) as z:
        return int(z["stamp"].shape[0])


def _batches(loader: DataLoader, steps: int) -> Iterator[dict]:
    """``steps`` batches of ``loader``, starting it again when a (streamed) pass ends early, so that
    every rank runs the same number of steps."""
    k = 0
    while k < steps:
        got = False
        for batch in loader:
            got = True
            yield batch
            k += 1
            if k >= steps:
                return
        if not got:
            raise ValueError("the training loader yields no batch: fewer windows than batch_size on this rank")


def write_report(path: Path, cfg: WeakTrainConfig, history: list[dict]) -> None:
    """A markdown table of the losses and diagnostic metrics per epoch."""
    lines = ["# Weak training: point network", "", f"config hash `{config_hash(cfg)}`; window {cfg.window}; "
             f"teacher keypoint channels {'on' if cfg.features else 'off'}; loss switches: "
             + ", ".join(f"{k[4:]} {'on' if v else 'off'}" for k, v in asdict(cfg.losses).items() if k.startswith("use_")),
             "", "| epoch | loss | ray | bone | symmetry | temporal | consistency | surface | 3D error (mm) | mAP@10cm "
             "| reprojection (px) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for h in history:
        d = h.get("diagnostic") or {}

        def f(v: Any, fmt: str = "{:.4f}") -> str:
            return fmt.format(v) if v is not None else "-"
        lines.append(f"| {h['epoch']} | {f(h['train_total'])} | {f(h['train_ray'])} | {f(h['train_bone'])} | "
                     f"{f(h['train_symmetry'])} | {f(h['train_temporal'])} | {f(h['train_consistency'])} | "
                     f"{f(h['train_surface'])} | {f(d.get('mpjpe_mm'), '{:.1f}')} | {f(d.get('map_10cm'), '{:.3f}')} | "
                     f"{f(d.get('ray_px'), '{:.1f}')} |")
    lines += ["", "The 3D error uses ground truth only where the recordings have it; it never enters training."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the point network from teacher 2D keypoints (weak supervision).")
    ap.add_argument("--config", type=Path, required=True,
                    help="YAML with a WeakTrainConfig (or a pipeline config's weak: section)")
    ap.add_argument("--samples", type=Path, required=True, help="folder of sample shards (samples stage)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--stop-after", type=int)
    ap.add_argument("--export", type=Path)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    import yaml
    raw = yaml.safe_load(args.config.read_text()) or {}
    section = raw.get("weak", raw) if isinstance(raw, dict) else raw
    cfg = from_dict(WeakTrainConfig, section, str(args.config))
    if args.epochs is not None:
        cfg = replace(cfg, epochs=args.epochs)
    try:
        train_weak(cfg, args.samples, args.out, resume=args.resume, export=args.export, stop_after=args.stop_after,
                   progress=not args.no_progress)
    finally:
        dist_util.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
