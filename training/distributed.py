"""Small torch.distributed helpers shared by the trainers (single process or ``torchrun``).

A trainer calls :func:`init_distributed` once: under ``torchrun`` (``WORLD_SIZE`` > 1 in the
environment) it joins the process group (``gloo`` on CPU, ``nccl`` on CUDA) from the standard
environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``);
otherwise it does nothing and every helper below behaves as the single-process identity.

Example::

    torchrun --nproc_per_node 2 -m unipose_training.supervised.train --config config/train/depth_a2j.yaml ...
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its
    machine, and the torch ``device`` it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and shows progress (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer; "
                         "start the trainer with torchrun, which sets it") from None


def resolve_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: CUDA (the ``local_rank``-th GPU) when available, else CPU; ``"cpu"``; ``"cuda"``
    (the ``local_rank``-th GPU); or an explicit ``"cuda:N"``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was requested but torch sees no GPU; use device: cpu")
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return torch.device(device)


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1), else return a
    single-process :class:`DistInfo`. The backend is ``nccl`` on CUDA and ``gloo`` on CPU.
    Calling it again once the group exists returns the same information."""
    import datetime

    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def is_distributed() -> bool:
    """True when a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process)."""
    return rank() == 0


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    """Device the collectives run on: CUDA for nccl, CPU for gloo."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor | Sequence[float] | float) -> torch.Tensor:
    """Element-wise sum over all processes of ``values`` (any shape; float64 on the CPU out).

    In a single process the values come back unchanged (as a float64 CPU tensor)."""
    t = torch.as_tensor(values, dtype=torch.float64).detach().clone()
    if is_distributed():
        dev = _comm_device()
        t = t.to(dev)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_reduce_max(value: float) -> float:
    """Maximum of a scalar over all processes (used to agree on stopping)."""
    t = torch.tensor([float(value)], dtype=torch.float64)
    if is_distributed():
        t = t.to(_comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.cpu()[0])


def all_reduce_dict(sums: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Sum a dict of numbers / arrays over all processes in one collective. Keys must be the
    same on every process (the order is sorted here)."""
    keys = sorted(sums)
    flat = [torch.as_tensor(sums[k], dtype=torch.float64).reshape(-1) for k in keys]
    sizes = [f.numel() for f in flat]
    total = all_reduce_sum(torch.cat(flat) if flat else torch.zeros(0, dtype=torch.float64))
    out, i = {}, 0
    for k, f, n in zip(keys, flat, sizes):
        out[k] = total[i:i + n].reshape(torch.as_tensor(sums[k]).shape)
        i += n
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every process (picklable objects only)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@torch.no_grad()
def sync_buffers(module: torch.nn.Module) -> None:
    """Make the module's buffers equal on all processes: floating buffers (BatchNorm running
    statistics) are averaged, the others (counters) are taken from rank 0. Parameters under
    DistributedDataParallel are equal already; buffers drift because each rank updates its
    running statistics from its own batches."""
    if not is_distributed():
        return
    dev = _comm_device()
    n = world_size()
    for buf in module.buffers():
        t = buf.detach().to(dev)
        if t.is_floating_point():
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= n
        else:
            dist.broadcast(t, src=0)
        buf.copy_(t.to(buf.device))


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` pairs so that a dataset can seed its per-sample augmentation
    from the epoch and the index alone (identical in every DataLoader worker, after a resume,
    and for any number of workers).

    Single process: a permutation of ``range(len(dataset))`` from ``seed + epoch`` (or the
    identity when ``shuffle`` is False). Under ``torchrun``: a :class:`DistributedSampler`
    (``seed``, ``shuffle``, ``drop_last``) picks this rank's share. Call :meth:`set_epoch`
    before each epoch.
    """

    def __init__(self, dataset: Dataset, shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        self.n = len(dataset)  # type: ignore[arg-type]
        self.shuffle, self.seed, self.epoch = shuffle, int(seed), 0
        self.dist_sampler: DistributedSampler | None = None
        if is_distributed():
            self.dist_sampler = DistributedSampler(dataset, num_replicas=world_size(), rank=rank(),
                                                   shuffle=shuffle, seed=seed, drop_last=drop_last)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.dist_sampler is not None:
            self.dist_sampler.set_epoch(epoch)

    def indices(self) -> list[int]:
        """This process's sample indices for the current epoch, in order."""
        if self.dist_sampler is not None:
            return list(iter(self.dist_sampler))
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.indices()])

    def __len__(self) -> int:
        return len(self.dist_sampler) if self.dist_sampler is not None else self.n


def shard_indices(n: int, rank_: int | None = None, world: int | None = None) -> list[int]:
    """A strided share of ``range(n)`` for evaluation: every sample is seen exactly once over
    all ranks (no padding, unlike DistributedSampler), so summed metrics are exact."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    return list(range(rank_, n, world))


def stream_share(files: Sequence[Any], seed: int, epoch: int, shuffle: bool) -> list[tuple[int, Any]]:
    """The shards this process (its ``torchrun`` rank, and its DataLoader worker when called in
    one) streams this epoch: the shard order shuffled with ``(seed, epoch)`` when ``shuffle``, then
    dealt round-robin to ranks x workers. Returns (index in ``files``, shard) pairs."""
    import numpy as np
    from torch.utils.data import get_worker_info

    order = list(range(len(files)))
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(len(files)).tolist()
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
    slot, slots = rank() * nw + wid, world_size() * nw
    return [(k, files[k]) for k in order[slot::slots]]
