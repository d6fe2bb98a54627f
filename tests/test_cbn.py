"""cbn: class-conditional networks, class requests and blends, a training step, checkpoints, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import ROOT
from translate import load_pipeline
from translate.checkpoint import save_checkpoint
from translate.cli import main as cli_main
from translate.config import apply_overrides
from translate.data import ClassFolderDataset, DatasetError
from translate.nn import ConditionalBatchNorm2d
from translate.nn.norm import batch_norm_reference
from translate.pipelines import get_pipeline_class
from translate.pipelines.cbn import CBNConfig, ClassConditional, class_weights, truncated_noise

CLASSES = ("horizontal", "vertical")
TINY_CBN = (
    "classes=horizontal,vertical",
    "data.image_size=16",
    "data.preprocess=crop",
    "data.flip=false",
    "generator.ngf=8",
    "generator.n_blocks=1",
    "generator.embedding_dim=16",
    "noise_generator.ngf=8",
    "noise_generator.z_dim=16",
    "noise_generator.embedding_dim=16",
    "discriminator.ndf=8",
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny networks gain nothing from a second thread, and on a busy machine its synchronisation
    made these tests ten times slower (conftest asks for two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_cbn_config(mode: str, *extra: str) -> CBNConfig:
    return apply_overrides(CBNConfig(), [f"mode={mode}", *TINY_CBN, *extra])


def make_stripes(root: Path, count: int, held_out: int, size: int = 16, seed: int = 0) -> Path:
    """``root/{train,test}/{horizontal,vertical}/NNN.png``: stripes of random period, phase and
    colours, the same draw under the same name in both classes (aligned classes)."""
    rng = np.random.default_rng(seed)
    for split, number in (("train", count), ("test", held_out)):
        for index in range(number):
            period = int(rng.choice([4, 6, 8]))
            wave = ((np.arange(size) + int(rng.integers(period))) % period) < period // 2
            foreground, background = rng.uniform(0.6, 1, 3), rng.uniform(0, 0.4, 3)
            masks = {"horizontal": np.repeat(wave[:, None], size, 1), "vertical": np.repeat(wave[None], size, 0)}
            for name, mask in masks.items():
                (root / split / name).mkdir(parents=True, exist_ok=True)
                pixels = np.where(mask[..., None], foreground, background)
                Image.fromarray((pixels * 255).astype(np.uint8)).save(root / split / name / f"{index:03d}.png")
    return root


@pytest.fixture
def stripes(tmp_path: Path) -> Path:
    return make_stripes(tmp_path / "stripes", count=8, held_out=2)


def _batch(dataset: ClassFolderDataset, size: int = 4) -> dict:
    items = [dataset[(i % len(dataset), i)] for i in range(size)]
    return {key: torch.stack([torch.as_tensor(item[key]) for item in items]) for key in items[0]}


def test_registry_and_class_names_are_checked() -> None:
    assert get_pipeline_class("cbn") is ClassConditional
    with pytest.raises(ValueError, match="--set classes=NAME,NAME"):
        ClassConditional(CBNConfig())
    with pytest.raises(ValueError, match="at least two classes"):
        ClassConditional(tiny_cbn_config("translation", "classes=only"))
    with pytest.raises(ValueError, match="no ':' or ','"):
        ClassConditional(tiny_cbn_config("generation", "classes=a:b,c"))
    with pytest.raises(ValueError, match="generator.norm=cbn"):
        ClassConditional(tiny_cbn_config("translation", "generator.norm=instance"))


def test_class_requests_blend_and_name_the_valid_classes() -> None:
    names = ("cat", "dog", "cow")
    assert torch.equal(class_weights("dog", names), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(class_weights("cat:1, dog:3", names), torch.tensor([0.25, 0.75, 0.0]))
    assert torch.allclose(class_weights("cat:0.5,cow:0.5", names), torch.tensor([0.5, 0.0, 0.5]))
    with pytest.raises(ValueError, match="unknown class 'horse'; valid classes: cat, dog, cow"):
        class_weights("cat:0.5,horse:0.5", names)
    bad_requests = {"cat:-1": "non-negative", "cat:x": "not a number", "cat,cat": "twice", "cat:0": "sum to zero"}
    for bad, message in bad_requests.items():
        with pytest.raises(ValueError, match=message):
            class_weights(bad, names)


def test_one_hot_class_is_a_per_class_affine_batch_norm() -> None:
    """In the noise generator, CBN with a class (and z = 0) is batch norm with that class's own scale and shift."""
    torch.manual_seed(0)
    generator = ClassConditional(tiny_cbn_config("generation")).generator
    norm = generator.blocks[0].norm1
    nn.init.normal_(norm.gain.weight)
    nn.init.normal_(norm.bias.weight)
    labels = torch.tensor([0, 1, 1, 0])
    x = torch.randn(4, norm.num_features, 4, 4)
    z = torch.zeros(4, generator.z_dim)
    condition = torch.cat([generator.class_embedding(labels), z], dim=1)
    # Each class's affine parameters, from the shared embedding table alone.
    table = torch.cat([generator.class_embedding.weight, torch.zeros(2, generator.z_dim)], dim=1)
    gamma, beta = 1 + table @ norm.gain.weight.T, table @ norm.bias.weight.T
    expected = batch_norm_reference(x, gamma[labels], beta[labels])
    assert torch.allclose(norm(x, condition), expected, atol=1e-5)
    # One-hot class weights are the class itself, through the whole network.
    generator.eval()
    one_hot = nn.functional.one_hot(labels, 2).float()
    noise = torch.randn(4, generator.z_dim)
    assert torch.allclose(generator(noise, labels), generator(noise, one_hot), atol=1e-6)


def test_blended_class_weights_interpolate_linearly() -> None:
    """A blend's class embedding is the weighted mean, so every CBN output is the weighted mean too."""
    torch.manual_seed(0)
    pipeline = ClassConditional(tiny_cbn_config("translation")).eval()
    norms = [m for m in pipeline.generator.modules() if isinstance(m, ConditionalBatchNorm2d)]
    for norm in norms:  # give the classes different scales and shifts
        nn.init.normal_(norm.gain.weight, 0, 0.3)
        nn.init.normal_(norm.bias.weight, 0, 0.3)
    first = norms[0]  # its input comes before any class-dependent layer
    captured: list[torch.Tensor] = []
    handle = first.register_forward_hook(lambda module, args, output: captured.append(output))
    images = torch.rand(2, 3, 16, 16)
    for request in ("horizontal", "vertical", "horizontal:3,vertical:7"):
        pipeline(images, class_name=request)
    handle.remove()
    out_h, out_v, blended = captured
    assert not torch.allclose(out_h, out_v)
    assert torch.allclose(blended, 0.3 * out_h + 0.7 * out_v, atol=1e-5)


def test_projection_output_depends_on_the_class() -> None:
    torch.manual_seed(0)
    discriminator = ClassConditional(tiny_cbn_config("generation", "loss.ac_weight=1")).discriminator.eval()
    x = torch.randn(3, 3, 16, 16)
    features = discriminator.features(x)
    logits_h, classes = discriminator.heads(features, torch.zeros(3, dtype=torch.long))
    logits_v, _ = discriminator.heads(features, torch.ones(3, dtype=torch.long))
    assert not torch.allclose(logits_h, logits_v)
    # The class enters only through the inner product <e_y, h> (Miyato & Koyama's projection).
    embedding = discriminator.class_embedding.weight
    assert torch.allclose(logits_h - logits_v, features @ (embedding[0] - embedding[1]), atol=1e-4)
    assert classes is not None and classes.shape == (3, 2)
    # Spectral norm is on by default: the largest singular value of every weight is 1.
    conv = discriminator.blocks[0].conv1
    assert float(torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("mode", ["translation", "generation"])
def test_one_step_changes_generator_and_discriminator(stripes: Path, mode: str) -> None:
    torch.manual_seed(0)
    pipeline = ClassConditional(tiny_cbn_config(mode, "loss.ac_weight=0.5", "loss.paired_weight=1"))
    pipeline.setup_training(total_steps=10)
    batch = _batch(pipeline.build_dataset(stripes, train=True))
    before = {name: dict(m.named_parameters()) for name, m in pipeline.training_modules().items()}
    before = {name: {k: v.detach().clone() for k, v in params.items()} for name, params in before.items()}
    losses = pipeline.training_step(batch, step=0)
    expected = {"d", "d_ac", "g_gan", "g_ac"} | ({"g_cycle", "g_paired"} if mode == "translation" else set())
    assert set(losses) == expected and all(np.isfinite(list(losses.values())))
    unchanged = {
        f"{name}.{key}"
        for name, module in pipeline.training_modules().items()
        for key, value in module.named_parameters()
        if torch.equal(value, before[name][key])
    }
    # The class embedding reaches the loss only through the CBN projections, which start at zero:
    # its first gradient is exactly zero. Under hinge the head's bias gets +1/N from fakes and
    # -1/N from reals, zero while every logit is inside the margin.
    assert unchanged <= {"generator.class_embedding.weight", "discriminator.linear.bias"}, unchanged
    pipeline.training_step(batch, step=1)
    assert not torch.equal(pipeline.generator.class_embedding.weight, before["generator"]["class_embedding.weight"])


def test_dataset_gives_other_classes_and_aligned_targets(stripes: Path, tmp_path: Path) -> None:
    config = tiny_cbn_config("translation").data
    train = ClassFolderDataset(stripes, CLASSES, 3, config, train=True)
    item = train[(0, 123)]
    assert item["label"] == 0 and item["target_label"] == 1 and item["has_target"]
    # The aligned image is the same draw in the other class: the transpose of its stripes.
    assert torch.allclose(item["target"], item["image"].transpose(1, 2), atol=1e-6)
    held_out = ClassFolderDataset(stripes, CLASSES, 3, config, train=False)
    assert len(held_out) == 4 and held_out.describe()["images_per_class"] == {"horizontal": 2, "vertical": 2}
    with pytest.raises(DatasetError, match="class 'zebra'; the class folders here are: horizontal, vertical$"):
        ClassFolderDataset(stripes, ("horizontal", "zebra"), 3, config)


def test_sampling_is_deterministic_per_seed_and_truncated() -> None:
    torch.manual_seed(0)
    pipeline = ClassConditional(tiny_cbn_config("generation")).eval()
    images = pipeline.sample("horizontal", 3, seed=5, truncation=0.7)
    assert images.shape == (3, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    assert torch.equal(images, pipeline.sample("horizontal", 3, seed=5, truncation=0.7))
    # Image i comes from seed + i whatever n is, so grids line up across classes and calls
    # (up to the last bits: convolution kernels may sum in another order for another batch size).
    assert torch.allclose(images[1], pipeline.sample("horizontal", 1, seed=6, truncation=0.7)[0], atol=1e-5)
    assert not torch.allclose(images[0], images[1], atol=1e-3)
    assert torch.equal(truncated_noise(2, 64, seed=1, truncation=0.5)[1], truncated_noise(1, 64, 2, truncation=0.5)[0])
    assert truncated_noise(4, 64, seed=0, truncation=0.5).abs().max() <= 0.5
    with pytest.raises(ValueError, match="valid classes: horizontal, vertical"):
        pipeline.sample("diagonal", 2)
    with pytest.raises(ValueError, match="translate sample"):
        pipeline(torch.rand(1, 3, 16, 16), class_name="horizontal")


@pytest.mark.parametrize("mode", ["translation", "generation"])
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path: Path, mode: str) -> None:
    torch.manual_seed(0)
    pipeline = ClassConditional(tiny_cbn_config(mode))
    for module in pipeline.generator.modules():  # classes that differ, as after training
        if isinstance(module, ConditionalBatchNorm2d):
            nn.init.normal_(module.gain.weight, 0, 0.3)
    pipeline.eval()
    folder = save_checkpoint(pipeline, tmp_path / "ckpt")
    metadata = json.loads((folder / "config.json").read_text())["metadata"]
    assert metadata["class_names"] == list(CLASSES) and metadata["mode"] == mode
    loaded = load_pipeline(folder)
    if mode == "generation":
        assert torch.equal(loaded.sample("vertical", 2, seed=3), pipeline.sample("vertical", 2, seed=3))
    else:
        images = torch.rand(2, 3, 16, 16)
        request = "horizontal:0.25,vertical:0.75"
        assert torch.equal(loaded(images, class_name=request), pipeline(images, class_name=request))
        assert not torch.allclose(loaded(images, class_name="horizontal"), loaded(images, class_name="vertical"))


def _translate(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "translate", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_cli_sample_and_convert_with_a_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    generation = save_checkpoint(ClassConditional(tiny_cbn_config("generation")), tmp_path / "gen")
    translation = save_checkpoint(ClassConditional(tiny_cbn_config("translation")), tmp_path / "tr")

    out = tmp_path / "samples"
    done = _translate("sample", "--checkpoint", str(generation), "--class", "horizontal:0.5,vertical:0.5",
                      "--n", "3", "--seed", "7", "--truncation", "0.7", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["grid.png"] + [f"seed_00000{i}.png" for i in (7, 8, 9)]
    assert Image.open(out / "seed_000008.png").size == (16, 16)

    refused = _translate("convert", "--checkpoint", str(translation), "--class", "diagonal",
                         str(out / "seed_000007.png"), str(tmp_path / "converted.png"))
    assert refused.returncode == 2 and "unknown class 'diagonal'; valid classes: horizontal, vertical" in refused.stderr
    assert not (tmp_path / "converted.png").exists()

    # The same commands in-process: the other outcome of each.
    assert cli_main(["sample", "--checkpoint", str(generation), "--class", "diagonal", str(tmp_path / "none")]) == 2
    assert "valid classes: horizontal, vertical" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    assert cli_main(["convert", "--checkpoint", str(translation), "--class", "vertical", "--quiet",
                     str(out / "seed_000007.png"), str(tmp_path / "converted.png")]) == 0
    assert Image.open(tmp_path / "converted.png").size == (16, 16)
    assert cli_main(["sample", "--checkpoint", str(translation), "--class", "vertical", str(tmp_path / "none")]) == 2
    assert "translate convert --class" in capsys.readouterr().err

    # A second sample into the same folder does not replace the first one's files unless told to.
    before = (out / "seed_000008.png").read_bytes()
    again = ["sample", "--checkpoint", str(generation), "--class", "vertical", "--n", "2", "--seed", "8", str(out)]
    assert cli_main(again) == 2
    assert "seed_000008.png: already exists (3 of the files to write do); pass --overwrite" in capsys.readouterr().err
    assert (out / "seed_000008.png").read_bytes() == before
    assert cli_main([*again, "--overwrite"]) == 0
    assert (out / "seed_000008.png").read_bytes() != before
    assert cli_main([*again[:-1], "--n", "0", str(out)]) == 2
    assert "--n must be at least 1, got 0" in capsys.readouterr().err


def test_examples_scores_every_ordered_pair_and_names_bad_folders(stripes: Path, tmp_path: Path) -> None:
    from translate.class_eval import examples_scores
    from translate.classifier import ClassifierConfig, ImageClassifier

    pipeline = ClassConditional(tiny_cbn_config("translation")).eval()
    folder = stripes / "test"  # two names, drawn in both classes
    classifier = ImageClassifier(ClassifierConfig(classes=("horizontal", "vertical"), image_size=16, channels=3)).eval()
    classifier.predict = lambda images: torch.zeros(len(images), dtype=torch.long)  # type: ignore[method-assign]
    scores = examples_scores(pipeline, folder, classifier)
    assert scores["pairs"] == scores["l1_pairs"] == 2 * 2 and 0 < scores["l1"] < 1 and 0 < scores["change"] < 1
    # Everything called "horizontal": right for the two inputs redrawn as horizontal, so 0.5.
    assert scores["fidelity"] == 0.5
    # Inputs whose target class has no image of their name: no L1, the rest still scored.
    (tmp_path / "odd" / "horizontal").mkdir(parents=True)
    with pytest.raises(ValueError, match="no folder for class 'vertical'; expected one per class: horizontal, vertical"):
        examples_scores(pipeline, tmp_path / "odd")
    (tmp_path / "odd" / "vertical").mkdir()
    with pytest.raises(ValueError, match="horizontal: no images"):
        examples_scores(pipeline, tmp_path / "odd")
    Image.new("RGB", (16, 16)).save(tmp_path / "odd" / "vertical" / "x.png")
    Image.new("RGB", (16, 16), "white").save(tmp_path / "odd" / "horizontal" / "y.png")
    unaligned = examples_scores(pipeline, tmp_path / "odd")
    assert unaligned["pairs"] == 2 and "l1" not in unaligned and "fidelity" not in unaligned
    with pytest.raises(ValueError, match="generates from noise"):
        examples_scores(ClassConditional(tiny_cbn_config("generation")), folder)


def test_sample_fidelity_is_deterministic_for_a_seed() -> None:
    from translate.class_eval import sample_fidelity
    from translate.classifier import ClassifierConfig, ImageClassifier

    torch.manual_seed(0)
    pipeline = ClassConditional(tiny_cbn_config("generation")).eval()
    classifier = ImageClassifier(ClassifierConfig(classes=("horizontal", "vertical"), image_size=16, channels=3)).eval()
    first = sample_fidelity(pipeline, classifier, 4, seed=3)
    assert first == sample_fidelity(pipeline, classifier, 4, seed=3)
    # A classifier that calls everything "horizontal": right for one class of two, so 0.5.
    classifier.predict = lambda images: torch.zeros(len(images), dtype=torch.long)  # type: ignore[method-assign]
    assert sample_fidelity(pipeline, classifier, 4, seed=3) == 0.5
