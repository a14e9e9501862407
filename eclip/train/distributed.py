"""torchrun support: one process per device, DDP, rank-0-only writing.

``torchrun --nproc_per_node N -m eclip.train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK;
we pick gloo on CPU and NCCL on GPU. Without those variables everything is single-process.
The index build (``eclip.index``) shares the rank bookkeeping: ``env_context`` and a
``barrier`` that starts a gloo group on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(pref: str, local_rank: int = 0) -> torch.device:
    if pref == "cpu" or (pref == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def env_context(device_pref: str = "auto") -> DistContext:
    """The ranks torchrun set (RANK, WORLD_SIZE, LOCAL_RANK), without starting a process
    group: for jobs that only need a barrier now and then (``barrier`` starts one)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    return DistContext(rank=rank, world_size=world, local_rank=local,
                       device=pick_device(device_pref, local))


def init_distributed(device_pref: str = "auto") -> DistContext:
    ctx = env_context(device_pref)
    if ctx.enabled and not dist.is_initialized():
        backend = "nccl" if ctx.device.type == "cuda" else "gloo"
        if ctx.device.type == "cuda":
            torch.cuda.set_device(ctx.device)
        dist.init_process_group(backend=backend)
    return ctx


def wrap_ddp(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    # The processor is unused on plain steps, so DDP must look for unused parameters.
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DDP(model, device_ids=ids, find_unused_parameters=True)


def all_reduce(value: torch.Tensor, ctx: DistContext, op: str = "mean") -> torch.Tensor:
    """Reduce a small tensor across ranks (no-op when single-process)."""
    if not ctx.enabled:
        return value
    value = value.clone()
    if op == "max":
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    elif op == "min":
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
    else:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= ctx.world_size
    return value


def all_reduce_named(values: dict[str, torch.Tensor | float], ctx: DistContext,
                     device: torch.device, op: str = "mean") -> dict[str, float]:
    """Reduce named scalars in ONE collective (a collective per value costs a round trip
    each): packed into one float32 tensor in the dict's order, unpacked by the same names.
    Values are detached: what is reduced is logged or tested, never differentiated."""
    packed = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).detach().reshape(())
                          for v in values.values()])
    reduced = all_reduce(packed, ctx, op).cpu()  # on-device above: NCCL needs CUDA tensors
    return dict(zip(values, reduced.tolist()))


def barrier(ctx: DistContext) -> None:
    """Wait for every rank. A context from ``env_context`` has no process group yet: the
    first barrier starts a gloo one (CPU-only synchronisation, whatever the device)."""
    if ctx.enabled:
        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
        dist.barrier()


def cleanup(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
