"""The trainer: exact resume, run-folder contents, pruning, validation, EMA, learning-rate schedule."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_pix2pix_config
from translate import load_pipeline
from translate.optim import lr_factor
from translate.pipelines.pix2pix import Pix2Pix
from translate.train import TrainConfig, Trainer, newest_checkpoint


DROPOUT_RESNET = ("generator.kind=resnet", "generator.n_blocks=2", "generator.dropout=0.5")


def _trainer(folder: Path, run_dir: Path, workers: int = 0, **settings: object) -> Trainer:
    torch.manual_seed(0)
    # A ResNet generator with dropout in its blocks: the RNG stream matters (a 32² U-Net has no
    # dropout level), so exact resume is tested with random draws inside the step.
    pipeline = Pix2Pix(tiny_pix2pix_config(*DROPOUT_RESNET))
    dataset = pipeline.build_dataset(folder, train=True)
    # The runtime is pinned: a timed choice may differ between two fresh runs (see the trace test).
    defaults = {"batch_size": 2, "precision": "fp32", "memory_format": "contiguous", "sample_every": 0,
                "checkpoint_every": 1000, "seed": 3}
    config = TrainConfig(**(defaults | {"workers": workers} | settings))  # type: ignore[arg-type]
    return Trainer(pipeline, dataset, run_dir, config)


def test_resumed_run_ends_with_identical_weights(aligned_folder: Path, tmp_path: Path) -> None:
    """2N steps in one go == N steps, stop, resume for N more (data order, dropout, Adam, lr)."""
    straight = _trainer(aligned_folder, tmp_path / "straight", steps=8)
    straight.fit()

    first = _trainer(aligned_folder, tmp_path / "split", steps=8, stop_after=4)
    result = first.fit()
    assert result.step == 4 and result.final_checkpoint is None
    checkpoint = newest_checkpoint(tmp_path / "split")
    assert checkpoint is not None and checkpoint.name == "step_00000004"

    second = _trainer(aligned_folder, tmp_path / "split", steps=8)
    result = second.fit(resume_from=checkpoint)
    assert result.step == 8 and result.final_checkpoint is not None
    for name, module in straight.pipeline.training_modules().items():
        resumed = second.pipeline.training_modules()[name]
        for (key, a), b in zip(module.state_dict().items(), resumed.state_dict().values()):
            assert torch.equal(a, b), f"{name}.{key} differs after resume"


def test_resume_is_exact_with_worker_processes(aligned_folder: Path, tmp_path: Path) -> None:
    straight = _trainer(aligned_folder, tmp_path / "a", workers=2, steps=4)
    straight.fit()
    first = _trainer(aligned_folder, tmp_path / "b", workers=2, steps=4, stop_after=2)
    first.fit()
    second = _trainer(aligned_folder, tmp_path / "b", workers=2, steps=4)
    second.fit(resume_from=newest_checkpoint(tmp_path / "b"))
    for a, b in zip(straight.pipeline.generator.parameters(), second.pipeline.generator.parameters()):
        assert torch.equal(a, b)


def test_run_folder_holds_checkpoints_samples_and_logs(aligned_folder: Path, tmp_path: Path) -> None:
    trainer = _trainer(
        aligned_folder, tmp_path / "run", steps=6, log_every=1, sample_every=3, val_every=3, checkpoint_every=2
    )
    trainer.val_dataset = trainer.pipeline.build_dataset(aligned_folder, train=False)
    result = trainer.fit()
    run = tmp_path / "run"
    steps = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert steps == ["step_00000004", "step_00000006"]  # the newest two kept
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_00000003.png", "step_00000006.png"]
    with (run / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows if r["d"]] == [1, 2, 3, 4, 5, 6]
    assert any(r.get("val_l1") for r in rows)
    assert (run / "loss_curve.png").stat().st_size > 1000
    assert (run / "best" / "config.json").is_file()
    assert result.final_checkpoint == run / "final"
    assert load_pipeline(run / "final")(torch.rand(3, 32, 32)).shape == (3, 32, 32)
    assert load_pipeline(run / "checkpoints" / "step_00000004") is not None  # step checkpoints load too


def test_ema_weights_are_what_is_exported(aligned_folder: Path, tmp_path: Path) -> None:
    trainer = _trainer(aligned_folder, tmp_path / "run", steps=3, ema_decay=0.9)
    trainer.fit()
    exported = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    live = trainer.pipeline.generator.state_dict()
    ema = trainer.ema.shadows["generator"].state_dict()  # type: ignore[union-attr]
    key = next(k for k in live if k.endswith("weight"))
    assert torch.equal(exported[f"generator.{key}"], ema[key])
    assert not torch.equal(ema[key], live[key])


def test_sigterm_style_stop_saves_a_checkpoint(aligned_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = _trainer(aligned_folder, tmp_path / "run", steps=50)
    original = trainer.pipeline.training_step
    import signal

    def step_then_signal(batch: dict, step: int) -> dict:
        losses = original(batch, step)
        if step == 2:
            signal.raise_signal(signal.SIGTERM)
        return losses

    monkeypatch.setattr(trainer.pipeline, "training_step", step_then_signal)
    result = trainer.fit()
    assert result.interrupted_by == signal.SIGTERM and result.step == 3
    assert newest_checkpoint(tmp_path / "run").name == "step_00000003"  # type: ignore[union-attr]


def test_linear_decay_schedule() -> None:
    factors = [lr_factor("linear", step, 10, 0.5) for step in range(10)]
    assert factors[:5] == [1.0] * 5
    assert factors[5:] == pytest.approx([5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert lr_factor("constant", 9, 10, 0.5) == 1.0


def test_timing_the_runtime_choices_leaves_no_trace(aligned_folder: Path, tmp_path: Path) -> None:
    """A run that timed its precision × memory format first ends exactly like one told the winner."""
    timed = _trainer(aligned_folder, tmp_path / "timed", steps=3, memory_format="auto")
    timed.fit()
    assert len(timed.runtime_timings) == 2  # fp32 × {channels_last, contiguous}
    told = _trainer(
        aligned_folder, tmp_path / "told", steps=3,
        memory_format="channels_last" if timed.channels_last else "contiguous",
    )
    told.fit()
    assert told.runtime_timings == []
    for name, module in timed.pipeline.training_modules().items():
        for (key, a), b in zip(module.state_dict().items(), told.pipeline.training_modules()[name].state_dict().values()):
            assert torch.equal(a, b), f"{name}.{key} differs: the timing steps left a trace"


def test_runtime_choice_times_the_steady_state_step(
    aligned_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing steps run as the last step of the run, not the first, which a pipeline may keep
    lighter (a discriminator warm-up trains one network of two)."""
    trainer = _trainer(aligned_folder, tmp_path / "run", steps=7, memory_format="auto")
    original = trainer.pipeline.training_step
    seen: list[int] = []

    def recording_step(batch: dict, step: int) -> dict:
        seen.append(step)
        return original(batch, step)

    monkeypatch.setattr(trainer.pipeline, "training_step", recording_step)
    trainer.fit()
    timing, run = seen[:-7], seen[-7:]
    assert run == list(range(7))
    assert timing and set(timing) == {6}


def test_best_checkpoint_is_scored_with_the_weights_it_holds(aligned_folder: Path, tmp_path: Path) -> None:
    """With EMA on, best/ holds the EMA weights, so its recorded validation score must be theirs,
    and the live weights must be untouched by validating."""
    import json

    trainer = _trainer(aligned_folder, tmp_path / "run", steps=4, ema_decay=0.5, val_every=2)
    trainer.val_dataset = trainer.pipeline.build_dataset(aligned_folder, train=False)
    trainer.fit()
    recorded = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["validation"]["val_l1"]
    best = load_pipeline(tmp_path / "run" / "best")
    batch = next(iter(torch.utils.data.DataLoader(trainer.val_dataset, batch_size=8)))
    assert best.validation_metrics(batch)["l1"] == pytest.approx(recorded, rel=1e-5)
    live = trainer.pipeline.validation_metrics(batch)["l1"]
    assert live != pytest.approx(recorded, rel=1e-3)  # the live weights differ and were restored
