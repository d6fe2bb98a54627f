"""Data-parallel training under ``torchrun``: process group, gradient averaging, rank-0 duties.

``torchrun --nproc_per_node=N -m translate train ...`` starts N copies of the trainer. Each
reads its own shard of every batch (see :class:`translate.data.ResumableSampler`), and every
optimizer a pipeline lists averages its gradients over the ranks just before it steps, so all
ranks apply the same update and their weights stay identical. That keeps the pipelines free
of distributed code: they call ``optimizer.step()`` as in a single process.

gloo is used on the CPU, NCCL on GPUs. Without ``torchrun`` (no ``WORLD_SIZE`` above 1) every
function here is a no-op for a single process.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the job: rank ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and samples."""
        return self.rank == 0


SINGLE_PROCESS = DistributedContext()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device, timeout_minutes: float = 30.0) -> DistributedContext:
    """Join the process group ``torchrun`` described in the environment (or run alone).

    Args:
        device: the device this process trains on; ``cuda`` selects ``cuda:LOCAL_RANK``.

    Returns:
        The rank, world size and local rank of this process.
    """
    if not launched_by_torchrun():
        return SINGLE_PROCESS
    context = DistributedContext(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if not dist.is_initialized():
        # gloo carries the small CPU flags (stop, checkpoint, RNG states) on GPU jobs too.
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(context.local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    return context


def local_device(device: torch.device, context: DistributedContext) -> torch.device:
    """One GPU per process: rank ``r`` on a node uses ``cuda:LOCAL_RANK``."""
    if context.enabled and device.type == "cuda":
        return torch.device("cuda", context.local_rank)
    return device


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def broadcast_modules(modules: Iterable[nn.Module], context: DistributedContext) -> None:
    """Give every rank rank 0's parameters and buffers (start, or after loading weights)."""
    if not context.enabled:
        return
    for module in modules:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor.data, src=0)


def _average_gradients(parameters: list[Tensor], world_size: int) -> None:
    """All-reduce the gradients of ``parameters`` as a few flat buckets, then divide by the ranks.

    The ranks first agree which parameters have a gradient anywhere: those are reduced (a rank
    without one adds zeros), the others keep no gradient on every rank, so the optimizer skips
    them as it would in a single process, and all ranks reduce the same buckets in one order.
    """
    has_grad = torch.tensor([p.grad is not None for p in parameters], dtype=torch.uint8)
    dist.all_reduce(has_grad, op=dist.ReduceOp.MAX)
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for parameter, anywhere in zip(parameters, has_grad.tolist()):
        if not anywhere:
            continue
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        by_dtype.setdefault(parameter.grad.dtype, []).append(parameter.grad)
    for grads in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world_size)
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()


def synchronise_optimizer(optimizer: torch.optim.Optimizer, context: DistributedContext) -> RemovableHandle | None:
    """Average the gradients of ``optimizer``'s parameters over the ranks before each of its steps."""
    if not context.enabled:
        return None
    parameters = [p for group in optimizer.param_groups for p in group["params"]]

    def average_before_step(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        _average_gradients(parameters, context.world_size)

    return optimizer.register_step_pre_hook(average_before_step)


def any_rank(flag: bool, context: DistributedContext) -> bool:
    """True when ``flag`` is true on any rank (so all ranks stop at the same step)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather_objects(value: object, context: DistributedContext) -> list[object]:
    """Every rank's ``value``, in rank order (a list of one without torchrun)."""
    if not context.enabled:
        return [value]
    values: list[object] = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def use_sync_batchnorm(modules: Iterable[nn.Module], context: DistributedContext, device: torch.device) -> None:
    """Replace the batch norms inside ``modules`` by ones that share statistics across ranks.

    torch's SyncBatchNorm runs on GPUs only, so on the CPU this is a clear error, not a silent
    fallback to per-rank statistics.
    """
    if not context.enabled:
        return
    if device.type != "cuda":
        raise ValueError(
            "sync_batchnorm needs CUDA devices (torch's SyncBatchNorm does not run on the CPU); "
            "train without it or on GPUs"
        )
    for module in modules:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            raise TypeError("use_sync_batchnorm converts the batch norms inside a network, not a bare batch norm")
        # Converts the children in place, so the pipeline keeps its own module objects.
        nn.SyncBatchNorm.convert_sync_batchnorm(module)
