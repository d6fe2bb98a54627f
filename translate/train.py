"""A generic trainer: it loops, logs what ``training_step`` returns, keeps EMA, checkpoints, resumes.

It knows nothing about GANs. Everything model-specific lives in the pipeline.

A run directory holds::

    RUN_DIR/
      run.json                  pipeline name, its config, the training settings, description and --init
      checkpoints/step_NNNNNNNN/ config.json + model.safetensors (loadable) + training_state.pt
      best/                     the best held-out checkpoint (with validation)
      final/                    the checkpoint at the last step
      samples/step_NNNNNNNN.png input | output | target grids
      log.csv, loss_curve.png   losses per step (and TensorBoard events when installed)
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from translate.checkpoint import (
    CheckpointError,
    load_module_weights,
    module_weights,
    save_checkpoint,
)
from translate.config import option, to_dict
from translate.data import ResumableSampler
from translate.distributed import (
    DistributedContext,
    any_rank,
    barrier,
    broadcast_modules,
    gather_objects,
    init_distributed,
    local_device,
    synchronise_optimizer,
    use_sync_batchnorm,
)
from translate.imageio import save_image
from translate.pipelines import Pipeline
from translate.runtime import MemoryFormat, Precision, candidate_precisions, resolve_device, resolve_precision

TRAINING_STATE_FILE = "training_state.pt"
RUN_FILE = "run.json"
_STEP_DIR = re.compile(r"^step_(\d{8})$")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = option(10_000, "total optimisation steps of the run (a resume continues up to it)")
    batch_size: int = option(1, "images per step")
    seed: int = option(0, "seeds initialisation, data order and augmentation draws")
    precision: Literal["auto", "fp32", "bf16"] = option(
        "auto", "auto = time a few steps in each precision the hardware supports and train in the fastest"
    )
    memory_format: MemoryFormat = option(
        "auto", "auto (timed like precision), channels_last or contiguous"
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:N")
    workers: int = option(2, "data-loading worker processes")
    log_every: int = option(10, "steps between log rows")
    sample_every: int = option(500, "steps between sample grids (0 = only at the end)")
    checkpoint_every: int = option(1000, "steps between checkpoints")
    checkpoint_minutes: float = option(10.0, "also checkpoint after this much wall-clock time")
    keep_checkpoints: int = option(2, "step checkpoints kept (older ones are deleted)")
    val_every: int = option(0, "steps between held-out validations (0 = never)")
    ema_decay: float = option(0.0, "exponential moving average of the inference weights (0 = off)")
    stop_after: int = option(0, "stop (with a checkpoint) after this many steps in this invocation; 0 = no limit")
    sync_batchnorm: bool = option(False, "under torchrun: batch-norm statistics over all ranks (GPUs only)")

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """Settings saved by 0.1.0 runs: ``channels_last: bool`` became ``memory_format``."""
        if "channels_last" in data:
            data = dict(data)
            data["memory_format"] = "channels_last" if data.pop("channels_last") else "contiguous"
        return data


class ExponentialMovingAverage:
    """EMA copies of some modules: ``ema = decay * ema + (1 - decay) * current``; buffers are copied."""

    def __init__(self, modules: dict[str, nn.Module], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadows = {name: copy.deepcopy(module).eval().requires_grad_(False) for name, module in modules.items()}

    @torch.no_grad()
    def update(self, modules: dict[str, nn.Module]) -> None:
        for name, module in modules.items():
            shadow = self.shadows[name]
            for (key, ema_value), value in zip(shadow.state_dict().items(), module.state_dict().values()):
                if ema_value.is_floating_point() and "running_" not in key:
                    ema_value.lerp_(value.to(ema_value.dtype), 1.0 - self.decay)
                else:
                    ema_value.copy_(value)

    def weights(self) -> dict[str, Tensor]:
        return module_weights(self.shadows)


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if hasattr(signal, "SIGTERM") and _is_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _leave_stop_signals_to_the_trainer(worker_id: int) -> None:
    """Data-loading workers ignore SIGINT and SIGTERM.

    Ctrl-C, ``kill`` of the process group or the end of a session signals every process; a
    worker that died of it would make the main process fail with "DataLoader worker killed"
    before it could save its checkpoint. The workers exit when the main process does.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete step checkpoint of a run (temporary folders never match)."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    steps = sorted(
        (int(m.group(1)), child)
        for child in folder.iterdir()
        if (m := _STEP_DIR.match(child.name)) and (child / TRAINING_STATE_FILE).is_file()
    )
    return steps[-1][1] if steps else None


@dataclass
class TrainResult:
    step: int
    final_checkpoint: Path | None
    interrupted_by: int | None
    best_checkpoint: Path | None


class Trainer:
    """Trains a pipeline on a dataset into a run directory.

    Args:
        pipeline: built from its config (weights may come from ``--init``).
        dataset: items are dicts of tensors (see the pipeline's ``build_dataset``).
        run_dir: where checkpoints, samples and logs go.
        config: training settings.
        val_dataset: optional held-out set for ``val_every``.
        description: extra entries for every checkpoint's config.json.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        dataset: Dataset,
        run_dir: str | os.PathLike,
        config: TrainConfig,
        val_dataset: Dataset | None = None,
        description: dict[str, Any] | None = None,
        distributed: DistributedContext | None = None,
    ) -> None:
        if config.steps < 1:
            raise ValueError(f"steps must be at least 1, got {config.steps}")
        if config.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {config.batch_size}")
        self.pipeline = pipeline
        self.dataset = dataset
        self.val_dataset = val_dataset
        self.run_dir = Path(run_dir)
        self.config = config
        self.description = description or {}
        device = resolve_device(config.device)
        self.distributed = distributed if distributed is not None else init_distributed(device)
        self.device = local_device(device, self.distributed)
        # Checked now (a clear error before any work); the choice among them is made in setup().
        self.precision_candidates = candidate_precisions(config.precision, self.device)
        self.precision: Precision = self.precision_candidates[0]
        self.channels_last = config.memory_format != "contiguous"
        self.runtime_timings: list[dict[str, Any]] = []
        self.step = 0
        self.best_score = math.inf
        self.ema: ExponentialMovingAverage | None = None
        self._log_keys: list[str] | None = None

    # ------------------------------------------------------------------ state
    def _training_meta(self) -> dict[str, Any]:
        data = self.dataset.describe() if hasattr(self.dataset, "describe") else {}
        return {
            "training": {
                "step": self.step,
                "data": data,
                "precision": self.precision,
                "channels_last": self.channels_last,
                "world_size": self.distributed.world_size,
                "settings": to_dict(self.config),
            }
        } | self.description

    def _inference_weights(self) -> dict[str, Tensor]:
        return self.ema.weights() if self.ema is not None else module_weights(self.pipeline.inference_modules())

    def _rng_state(self) -> dict[str, Tensor]:
        """This process's random generators: the CPU's and its own GPU's (dropout, augmentation)."""
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: dict[str, Tensor]) -> None:
        torch.set_rng_state(state["cpu"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def _training_state(self, rng_states: list[dict[str, Tensor]]) -> dict[str, Any]:
        return {
            "step": self.step,
            "networks": module_weights(self.pipeline.training_modules()),
            "pipeline": self.pipeline.training_state(),
            "ema": self.ema.weights() if self.ema is not None else None,
            "best_score": self.best_score,
            "runtime": {"precision": self.precision, "channels_last": self.channels_last},
            # One state per rank, so each rank's dropout continues its own stream.
            "rng_ranks": rng_states,
        }

    def save(self) -> Path:
        """Write a resumable, loadable checkpoint for the current step; keep the newest few.

        Under torchrun every rank calls it (the RNG states are gathered); rank 0 writes.
        """
        folder = self.run_dir / "checkpoints" / f"step_{self.step:08d}"
        rng_states = gather_objects(self._rng_state(), self.distributed)
        if self.distributed.is_main:
            state = self._training_state(rng_states)
            save_checkpoint(
                self.pipeline,
                folder,
                weights=self._inference_weights(),
                extra=self._training_meta(),
                extra_files={TRAINING_STATE_FILE: lambda path: torch.save(state, path)},
            )
            kept = sorted(p for p in folder.parent.iterdir() if _STEP_DIR.match(p.name))
            for old in kept[: -max(1, self.config.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)
            self._write_loss_curve()
        barrier(self.distributed)
        return folder

    @staticmethod
    def read_training_state(checkpoint: Path) -> dict[str, Any]:
        path = checkpoint / TRAINING_STATE_FILE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any failure means a damaged file
            raise CheckpointError(f"{path}: cannot read training state ({error})") from None

    def resume(self, checkpoint: Path, state: dict[str, Any] | None = None) -> None:
        """Continue from a step checkpoint written by :meth:`save` (after ``setup``)."""
        path = checkpoint / TRAINING_STATE_FILE
        state = state if state is not None else self.read_training_state(checkpoint)
        load_module_weights(self.pipeline.training_modules(), state["networks"], path)
        self.pipeline.configure_runtime(self.device, self.precision, self.channels_last)
        self.pipeline.load_training_state(state["pipeline"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise CheckpointError(f"{path}: has no EMA weights but ema_decay is set")
            load_module_weights(self.ema.shadows, state["ema"], path)
        self.step = int(state["step"])
        self.best_score = float(state.get("best_score", math.inf))
        # Older states kept one CPU generator state.
        rank_states = state.get("rng_ranks") or [{"cpu": state["rng_cpu"]}]
        if len(rank_states) != self.distributed.world_size and self.distributed.is_main:
            print(
                f"warning: {path} was saved by {len(rank_states)} process(es), resumed by "
                f"{self.distributed.world_size}: the data shards and random streams differ from an "
                "uninterrupted run from here on",
                file=sys.stderr,
            )
        self._set_rng_state(rank_states[self.distributed.rank % len(rank_states)])

    def setup(self, runtime: dict[str, Any] | None = None) -> None:
        """Choose precision and memory format, move to the device, create optimizers and EMA.

        Args:
            runtime: the choice a resumed run made (``precision``, ``channels_last``); when
                None and the config says ``auto``, the fastest choice is timed here.
        """
        # Denormal gradients and moments (tiny values in deep layers) are slow on x86 CPUs.
        torch.set_flush_denormal(True)
        if self.config.sync_batchnorm:
            use_sync_batchnorm(self.pipeline.training_modules().values(), self.distributed, self.device)
        saved = (runtime["precision"], bool(runtime["channels_last"])) if runtime else None
        if saved is not None and saved in self._runtime_candidates():
            # A resumed run keeps its numerics; an explicit --precision/--memory-format that
            # excludes the saved choice (or hardware that lacks it) chooses again below.
            self.precision, self.channels_last = saved
            self.pipeline.configure_runtime(self.device, self.precision, self.channels_last)
            self.pipeline.setup_training(self.config.steps)
        else:
            if saved is not None and self.distributed.is_main:
                print(f"warning: the run trained in {saved[0]} (channels_last={saved[1]}), which these "
                      "settings or this hardware exclude; choosing again", file=sys.stderr)
            self._choose_runtime()
        broadcast_modules(self.pipeline.training_modules().values(), self.distributed)
        for optimizer in self.pipeline.optimizers().values():
            synchronise_optimizer(optimizer, self.distributed)
        if self.config.ema_decay > 0:
            self.ema = ExponentialMovingAverage(self.pipeline.inference_modules(), self.config.ema_decay)

    def _runtime_candidates(self) -> list[tuple[Precision, bool]]:
        formats = {"auto": [True, False], "channels_last": [True], "contiguous": [False]}[self.config.memory_format]
        return [(precision, channels_last) for precision in self.precision_candidates for channels_last in formats]

    def _choose_runtime(self, timed_steps: int = 2) -> None:
        """Time a few training steps in each candidate precision × memory format; keep the fastest.

        Which is fastest depends on the processor, the network and the image and batch size (on
        the 2-core AVX-512 CPU of bench/train_step.py, bf16 contiguous won and channels_last lost
        at both 256² and 64²; channels_last is the usual winner on GPUs), so it is measured
        rather than assumed. The weights, optimizer and RNG states are restored
        afterwards, so the run is the same as if it had started with the winner.
        """
        candidates = self._runtime_candidates()
        if len(candidates) == 1:
            self.precision, self.channels_last = candidates[0]
            self.pipeline.configure_runtime(self.device, self.precision, self.channels_last)
            self.pipeline.setup_training(self.config.steps)
            return
        self.pipeline.configure_runtime(self.device, *candidates[0])
        self.pipeline.setup_training(self.config.steps)
        weights = copy.deepcopy({name: m.state_dict() for name, m in self.pipeline.training_modules().items()})
        pipeline_state = copy.deepcopy(self.pipeline.training_state())
        rng = self._rng_state()
        # A batch drawn with another seed: the run's own sample stream is untouched.
        probe = next(iter(DataLoader(
            self.dataset, batch_size=self.config.batch_size, num_workers=0,
            sampler=ResumableSampler(len(self.dataset), self.config.seed + 1),
        )))
        # Timed as the run's last step: a pipeline may do less work in its first steps (the
        # srgan gan phase trains only its discriminator during a warm-up), and the run spends
        # most of its time in the steady state.
        steady_step = max(self.config.steps - 1, 0)
        seconds: dict[tuple[Precision, bool], float] = {}
        failures: dict[tuple[Precision, bool], str] = {}
        for candidate in candidates:
            self.pipeline.configure_runtime(self.device, *candidate)
            self.pipeline.setup_training(self.config.steps)
            try:
                self.pipeline.training_step(probe, steady_step)  # warm-up: kernel selection, weight packing
                times = []
                for _ in range(timed_steps):
                    started = time.perf_counter()
                    self.pipeline.training_step(probe, steady_step)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    times.append(time.perf_counter() - started)
            except (RuntimeError, MemoryError) as error:  # e.g. out of memory in fp32 where bf16 fits
                failures[candidate] = str(error).splitlines()[0]
                continue
            seconds[candidate] = min(times)  # the least disturbed by other work on the machine
        if not seconds:
            detail = "; ".join(f"{p} channels_last={c}: {e}" for (p, c), e in failures.items())
            raise RuntimeError(f"no precision/memory format could run a training step: {detail}")
        choice = min(seconds, key=seconds.__getitem__)
        # Every rank must train the same way: rank 0's measurement decides.
        self.precision, self.channels_last = gather_objects(choice, self.distributed)[0]  # type: ignore[misc]
        self.runtime_timings = [
            {"precision": p, "channels_last": c, "seconds_per_step": round(s, 4)} for (p, c), s in seconds.items()
        ]
        for name, module in self.pipeline.training_modules().items():
            module.load_state_dict(weights[name])
        self.pipeline.configure_runtime(self.device, self.precision, self.channels_last)
        self.pipeline.setup_training(self.config.steps)
        self.pipeline.load_training_state(pipeline_state)
        self._set_rng_state(rng)
        if self.distributed.is_main:
            table = ", ".join(
                f"{p}{'+channels_last' if c else ''} {s:.3f} s" for (p, c), s in sorted(seconds.items(), key=lambda x: x[1])
            )
            failed = "".join(f"; {p}{'+channels_last' if c else ''} failed ({e})" for (p, c), e in failures.items())
            print(f"runtime: fastest of {timed_steps} timed steps each: {table}{failed}; training in the fastest",
                  file=sys.stderr)

    # ------------------------------------------------------------------ loop
    def _batches(self) -> Iterator[dict[str, Any]]:
        sampler = ResumableSampler(
            len(self.dataset),
            self.config.seed,
            start=self.step * self.config.batch_size,
            rank=self.distributed.rank,
            world_size=self.distributed.world_size,
        )
        loader = DataLoader(
            self.dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.workers,
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
            # Its own generator, so creating the loader draws nothing from the global RNG that
            # dropout uses: a resumed run continues the same random stream.
            generator=torch.Generator().manual_seed(self.config.seed),
            worker_init_fn=_leave_stop_signals_to_the_trainer,
        )
        return iter(loader)

    def fit(self, resume_from: Path | None = None) -> TrainResult:
        """Train up to ``config.steps``; returns where the final checkpoint went.

        SIGINT and SIGTERM stop the loop after the current step with a checkpoint written.
        Under torchrun, rank 0 logs, samples, validates and writes checkpoints; a stop or a
        time-based checkpoint on any rank is agreed by all, so they stay in step.
        """
        main = self.distributed.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        state = self.read_training_state(resume_from) if resume_from is not None else None
        self.setup(runtime=state.get("runtime") if state is not None else None)
        if resume_from is not None:
            self.resume(resume_from, state)
        steps = gather_objects(self.step, self.distributed)
        if len(set(steps)) > 1:  # e.g. a rank that cannot see the checkpoint folder
            raise CheckpointError(f"the ranks start from different steps {steps}: every rank must read {resume_from}")
        config = self.config
        start_step = self.step
        stop_at = config.steps if not config.stop_after else min(config.steps, start_step + config.stop_after)
        if main:
            self._prepare_log(start_step)
        interrupted: int | None = None
        last_save = time.monotonic()
        best: Path | None = self.run_dir / "best" if (self.run_dir / "best").is_dir() else None
        progress = _Progress(start_step, config.steps, enabled=main)
        started = time.monotonic()
        images_seen = 0
        if self.step < stop_at:
            batches = self._batches()
            with _StopRequest() as stop:
                while self.step < stop_at:
                    batch = next(batches)
                    losses = self.pipeline.training_step(batch, self.step)
                    self.step += 1
                    images_seen += config.batch_size * self.distributed.world_size
                    if self.ema is not None:
                        self.ema.update(self.pipeline.inference_modules())
                    rate = images_seen / max(time.monotonic() - started, 1e-9)
                    progress.update(self.step, losses, rate)
                    if main and (self.step % config.log_every == 0 or self.step == stop_at):
                        self._log(losses, rate)
                    if main and config.sample_every and self.step % config.sample_every == 0:
                        self.write_samples(batch)
                    if config.val_every and self.val_dataset is not None and self.step % config.val_every == 0:
                        best = (self._validate() if main else None) or best
                        barrier(self.distributed)
                    due = self.step % config.checkpoint_every == 0 or any_rank(
                        time.monotonic() - last_save > config.checkpoint_minutes * 60, self.distributed
                    )
                    if any_rank(stop.signal is not None, self.distributed):
                        interrupted = stop.signal if stop.signal is not None else signal.SIGTERM
                        break
                    if due and self.step < stop_at:
                        self.save()
                        last_save = time.monotonic()
                progress.close()
                self.save()
                if interrupted is None and main:
                    self.write_samples(batch)
        final = None
        if self.step >= config.steps:
            final = self.run_dir / "final"
            if main:
                save_checkpoint(self.pipeline, final, weights=self._inference_weights(), extra=self._training_meta())
            barrier(self.distributed)
        return TrainResult(self.step, final, interrupted, best)

    # ------------------------------------------------------------------ outputs
    @torch.no_grad()
    def write_samples(self, batch: dict[str, Any]) -> Path:
        """A grid, one row per sample (at most 4), columns from ``pipeline.visuals``."""
        with self._inference_weights_in_place():
            columns = self.pipeline.visuals(batch)
        rows = min(4, columns[0].shape[0])
        height = max(c.shape[-2] for c in columns)
        tiles = []
        for row in range(rows):
            for column in columns:
                image = column[row].float().cpu()
                if image.shape[0] == 1:
                    image = image.expand(3, -1, -1)
                image = image[:3]
                if image.shape[-2] != height:
                    image = torch.nn.functional.interpolate(image[None], size=(height, height), mode="nearest")[0]
                tiles.append(image)
        import torchvision.utils

        grid = torchvision.utils.make_grid(tiles, nrow=len(columns), padding=2, pad_value=1.0)
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        save_image(grid, path)
        return path

    @torch.no_grad()
    def _validate(self) -> Path | None:
        assert self.val_dataset is not None
        loader = DataLoader(self.val_dataset, batch_size=self.config.batch_size, num_workers=0)
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        # Scored with the weights best/ would hold (the EMA where kept), not the live ones.
        with self._inference_weights_in_place():
            for batch in loader:
                size = len(batch["index"])
                # A metric a batch cannot give (no paired truth in it) is averaged over the
                # batches that gave it, not diluted by the others.
                for key, value in self.pipeline.validation_metrics(batch).items():
                    totals[key] = totals.get(key, 0.0) + value * size
                    counts[key] = counts.get(key, 0) + size
        metrics = {f"val_{k}": v / counts[k] for k, v in totals.items()}
        self._log(metrics, None)
        score = metrics[f"val_{self.pipeline.validation_key}"]
        if score < self.best_score:
            self.best_score = score
            return save_checkpoint(
                self.pipeline,
                self.run_dir / "best",
                weights=self._inference_weights(),
                extra=self._training_meta() | {"validation": metrics},
            )
        return None

    @contextlib.contextmanager
    def _inference_weights_in_place(self) -> Iterator[None]:
        """Run the block with the EMA weights in the inference networks (no-op without EMA)."""
        if self.ema is None:
            yield
            return
        modules = self.pipeline.inference_modules()
        live = {name: copy.deepcopy(module.state_dict()) for name, module in modules.items()}
        try:
            for name, module in modules.items():
                module.load_state_dict(self.ema.shadows[name].state_dict())
            yield
        finally:
            for name, module in modules.items():
                module.load_state_dict(live[name])

    def _prepare_log(self, start_step: int) -> None:
        """Keep the rows of earlier steps on resume; drop rows past the resume point."""
        path = self.run_dir / "log.csv"
        if not path.exists():
            return
        with path.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= start_step]
        if rows:
            self._log_keys = list(rows[0].keys())
        with path.open("w", newline="") as handle:
            if self._log_keys:
                writer = csv.DictWriter(handle, self._log_keys)
                writer.writeheader()
                writer.writerows(rows)

    def _log(self, values: dict[str, float], rate: float | None) -> None:
        path = self.run_dir / "log.csv"
        row: dict[str, Any] = {"step": self.step, "time": round(time.time(), 3)}
        if rate is not None:
            row["images_per_s"] = round(rate, 4)
        row |= {k: round(v, 6) for k, v in values.items()}
        if self._log_keys is None or not set(row) <= set(self._log_keys):
            self._log_keys = list(dict.fromkeys((self._log_keys or []) + list(row)))
            old_rows = []
            if path.exists():
                with path.open(newline="") as handle:
                    old_rows = list(csv.DictReader(handle))
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, self._log_keys)
                writer.writeheader()
                writer.writerows(old_rows)
        with path.open("a", newline="") as handle:
            csv.DictWriter(handle, self._log_keys).writerow(row)
        _tensorboard_log(self.run_dir, self.step, values)

    def _write_loss_curve(self) -> None:
        path = self.run_dir / "log.csv"
        if not path.exists():
            return
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        keys = [k for k in (self._log_keys or []) if k not in ("step", "time", "images_per_s")]
        if not rows or not keys:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(8, 4.5))
        for key in keys:
            points = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
            if points:
                axis.plot(*zip(*points), label=key, marker="." if len(points) < 50 else None)
        axis.set_xlabel("step")
        axis.set_ylabel("loss / metric")
        axis.legend()
        axis.grid(alpha=0.3)
        figure.tight_layout()
        temporary = path.with_name(".loss_curve.tmp.png")
        figure.savefig(temporary, dpi=100)
        plt.close(figure)
        os.replace(temporary, self.run_dir / "loss_curve.png")


_TENSORBOARD: dict[str, Any] = {}


def _tensorboard_log(run_dir: Path, step: int, values: dict[str, float]) -> None:
    """TensorBoard event files beside the CSV when tensorboard is installed."""
    key = str(run_dir)
    if key not in _TENSORBOARD:
        try:
            from torch.utils.tensorboard import SummaryWriter

            _TENSORBOARD[key] = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            _TENSORBOARD[key] = None
    writer = _TENSORBOARD[key]
    if writer is not None:
        for name, value in values.items():
            writer.add_scalar(name, value, step)
        writer.flush()


class _Progress:
    """A tqdm bar on a terminal; plain lines every so often elsewhere (log files)."""

    def __init__(self, start: int, total: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.interactive = enabled and sys.stderr.isatty()
        self.last_line = time.monotonic()
        self.total = total
        self.bar = None
        if self.interactive:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, step: int, losses: dict[str, float], rate: float) -> None:
        summary = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(f"{summary} img/s={rate:.2f}", refresh=False)
        elif self.enabled and (time.monotonic() - self.last_line > 30 or step == self.total):
            print(f"step {step}/{self.total} {summary} img/s={rate:.2f}", file=sys.stderr, flush=True)
            self.last_line = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def write_run_file(
    run_dir: Path, pipeline: Pipeline, config: TrainConfig, data: str, checkpoint_entries: dict[str, Any]
) -> None:
    """Record what a ``--resume`` needs to rebuild the run, down to the entries every checkpoint's
    config.json carries (``description``, ``initialised_from``)."""
    document = {
        "pipeline": pipeline.name,
        "config": to_dict(pipeline.config),
        "train": to_dict(config),
        "data": data,
        "checkpoint_entries": checkpoint_entries,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    temporary = run_dir / f".{RUN_FILE}.tmp"
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(temporary, run_dir / RUN_FILE)
