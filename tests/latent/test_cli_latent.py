"""``trigen sample --dit-checkpoint … --vae …`` and the klvae / latent training commands."""

import pytest
import torch
from PIL import Image

from trigen.cli import main

from ..interop.official_dit import official_state_dict
from .helpers import save_tiny_vae

LATENT = 8  # the official-layout DiT works on 8×8 latents; the tiny VAE upsamples by 2


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    # width 128 and depth 6 are trigen's DiT-T: the head count is known without passing it
    state = official_state_dict(hidden=128, depth=6, size=LATENT, learn_sigma=True)
    torch.save(state, root / "DiT-tiny.pt")
    save_tiny_vae(root / "vae")
    return root / "DiT-tiny.pt", root / "vae"


def test_official_dit_checkpoint_writes_pixel_images(tmp_path, capsys, official):
    dit, vae = official
    grid, each = tmp_path / "grid.png", tmp_path / "each"
    argv = ["sample", "--dit-checkpoint", dit, "--vae", vae, "--labels", "0,4", "--n", "2"]
    argv += ["--steps", "2", "--cfg", "4.0", "--image-size", 2 * LATENT, "--out", grid]
    code, text = run(capsys, *argv, "--images-dir", each, "--device", "cpu")
    assert code == 0, text
    assert grid.is_file()
    sizes = {Image.open(p).size for p in each.glob("*.png")}
    assert len(list(each.glob("*.png"))) == 2 and sizes == {(2 * LATENT, 2 * LATENT)}
    assert {p.name for p in each.glob("*.png")} == {"00000_class0.png", "00001_class4.png"}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sample"], "exactly one of --checkpoint or --dit-checkpoint"),
        (["sample", "--checkpoint", "x", "--dit-checkpoint", "y"], "exactly one of"),
        (["sample", "--dit-checkpoint", "{dit}"], "--vae"),
        (["sample", "--checkpoint", "x", "--vae", "{vae}"], "--dit-checkpoint only"),
        (["sample", "--dit-checkpoint", "{dit}", "--vae", "{vae}", "--image-size", "32"], "16"),
        (["sample", "--dit-checkpoint", "{dit}", "--vae", "{missing}"], "does not exist"),
        (["sample", "--dit-checkpoint", "{dit}", "--vae", "{dit}"], "AutoencoderKL directory"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path, capsys, official, argv, needle):
    dit, vae = official
    argv = [a.format(dit=dit, vae=vae, missing=tmp_path / "no-vae") for a in argv]
    code, text = run(capsys, *argv, "--device", "cpu")
    assert code == 2, text
    assert needle in text and len(text.strip().splitlines()) == 1


@pytest.mark.slow
def test_klvae_then_latent_dit_from_the_command_line(tmp_path, capsys, idx_root):
    kl, dit = tmp_path / "kl", tmp_path / "dit"
    data = ["--dataset", "idx", "--data-root", idx_root, "--batch-size", "16", "--device", "cpu"]
    code, text = run(capsys, "train", "--family", "klvae", "--steps", "2", "--out", kl, *data)
    assert code == 0, text
    assert Image.open(kl / "samples.png").size[0] > 0
    tiny = ["--set", "model_overrides={depth=1, hidden=32, heads=2}"]
    argv = ["train", "--family", "dit", "--model", "DiT-T/2", "--steps", "2", "--out", dit]
    code, text = run(capsys, *argv, *data, "--set", f"autoencoder={kl}", *tiny)
    assert code == 0, text
    grid = tmp_path / "grid.png"
    argv = ["sample", "--checkpoint", dit, "--n", "2", "--steps", "2", "--out", grid]
    code, text = run(capsys, *argv, "--images-dir", tmp_path / "each", "--device", "cpu")
    assert code == 0, text
    assert {Image.open(p).size for p in (tmp_path / "each").glob("*.png")} == {(16, 16)}
