"""Data-parallel training on the CPU (gloo): ranks stay identical, rank 0 writes, resume works."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from conftest import ROOT, TINY_PIX2PIX, tiny_pix2pix_config
from translate import load_pipeline
from translate.pipelines.pix2pix import Pix2Pix
from translate.train import TrainConfig, Trainer, newest_checkpoint

DROPOUT_RESNET = ("generator.kind=resnet", "generator.n_blocks=2", "generator.dropout=0.5")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train_rank(rank: int, world_size: int, port: int, folder: str, out: str) -> None:
    os.environ.update(
        {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(world_size)}
    )
    torch.set_num_threads(1)
    torch.manual_seed(0)
    # Dropout makes the ranks' gradients differ even on equal data: only averaging keeps them equal.
    pipeline = Pix2Pix(tiny_pix2pix_config(*DROPOUT_RESNET))
    if rank > 0:
        torch.manual_seed(rank)
    dataset = pipeline.build_dataset(folder, train=True)
    config = TrainConfig(steps=3, batch_size=1, workers=0, precision="fp32", memory_format="contiguous",
                         sample_every=0, checkpoint_every=1000)
    trainer = Trainer(pipeline, dataset, Path(out) / "run", config)
    assert trainer.distributed.world_size == world_size and trainer.distributed.rank == rank
    trainer.fit()
    torch.save({k: v.clone() for k, v in pipeline.state_dict().items()}, Path(out) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_ranks_end_with_identical_weights(aligned_folder: Path, tmp_path: Path) -> None:
    mp.spawn(_train_rank, args=(2, _free_port(), str(aligned_folder), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    torch.manual_seed(0)
    initial = Pix2Pix(tiny_pix2pix_config(*DROPOUT_RESNET)).state_dict()
    changed = 0
    for key, value in rank0.items():
        if value.is_floating_point() and "running_" not in key:
            assert torch.equal(value, rank1[key]), f"{key} differs between the ranks"
        changed += not torch.equal(value, initial[key])
    assert changed > 0, "training changed nothing"
    run = tmp_path / "run"
    assert (run / "final" / "model.safetensors").is_file()
    assert newest_checkpoint(run) is not None and newest_checkpoint(run).name == "step_00000003"
    state = torch.load(newest_checkpoint(run) / "training_state.pt", weights_only=True)
    assert len(state["rng_ranks"]) == 2  # each rank's dropout stream continues on resume


def test_sync_batchnorm_on_cpu_is_a_clear_error() -> None:
    from translate.distributed import DistributedContext, use_sync_batchnorm

    with pytest.raises(ValueError, match="CUDA"):
        use_sync_batchnorm([torch.nn.Sequential(torch.nn.BatchNorm2d(3))], DistributedContext(0, 2, 0), torch.device("cpu"))


def test_torchrun_cli_trains_and_the_run_resumes_in_one_process(aligned_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    sets = [arg for key in TINY_PIX2PIX for arg in ("--set", key)]
    common = ["--out", str(run), "--precision", "fp32", "--memory-format", "contiguous", "--workers", "0",
              "--log-every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}", "-m", "translate", "train", "pix2pix",
    ]
    first = subprocess.run(
        launch + ["--data", str(aligned_folder), "--steps", "4", "--stop-after", "2", *common, *sets],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 ranks" in first.stderr
    assert newest_checkpoint(run).name == "step_00000002"
    second = subprocess.run(
        [sys.executable, "-m", "translate", "train", "pix2pix", "--resume", *common],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed by 1" in second.stderr  # the change of process count is said, not hidden
    final = json.loads((run / "final" / "config.json").read_text())
    assert final["training"]["step"] == 4 and final["training"]["world_size"] == 1
    with (run / "log.csv").open() as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert steps[0] == 1 and steps[-1] == 4 and 2 in steps and 3 in steps  # continued from step 2
    assert load_pipeline(run / "final")(torch.rand(3, 32, 32)).shape == (3, 32, 32)
