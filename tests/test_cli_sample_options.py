"""`trigen sample` refuses every sampling option that the checkpoint's family, or the chosen
sampler, does not use: one line, exit 2, nothing written; the options it uses are accepted."""

import pytest

from trigen.cli import main
from trigen.cli.sample import SAMPLE_OPTIONS

FAMILIES = {  # family → the `trigen train` options that make a one-step 8 px run of it
    "unet": [],
    "dit": ["--set", "model_overrides={depth=1, hidden=32, heads=2}"],
    "ar": ["--set", "model_overrides={depth=1, width=32, heads=2}"],
    "pixelcnn": [],
    "maskgit": ["--set", "model_overrides={depth=1, width=32, heads=2}"],
}
VALUES = {  # a valid value of every option, none of them its default
    "sampler": "ddpm",
    "steps": "2",
    "eta": "0.5",
    "s_churn": "1",
    "s_tmin": "0.1",
    "s_tmax": "10",
    "s_noise": "1.003",
    "grid": "karras",
    "rho": "5",
    "cfg": "2",
    "temperature": "0.9",
    "top_k": "5",
    "top_p": "0.9",
    "unmasking": "confidence",
}
DIFFUSION_DDIM = {"sampler", "steps", "grid", "cfg", "eta"}  # DDIM on the family's own grid
TOKENS = {"cfg", "temperature", "top_k", "top_p"}
USED = {  # what each family reads with the default sampler (ddim) and σ grid (trailing)
    "unet": DIFFUSION_DDIM,
    "dit": DIFFUSION_DDIM,
    "ar": TOKENS,
    "pixelcnn": TOKENS,
    "maskgit": {*TOKENS, "steps", "unmasking"},
}


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A one-step 8 px run of every family, read (never written) by the tests."""
    root = tmp_path_factory.mktemp("families")
    for family, extra in FAMILIES.items():
        argv = ["train", "--family", family, "--resolution", "8", "--steps", "1"]
        argv += ["--batch-size", "4", "--out", str(root / family), "--no-sample-grid", *extra]
        assert main(argv) == 0, family
    return {family: root / family for family in FAMILIES}


def _sample(capsys, run, out, *options):
    code = main(["sample", "--checkpoint", str(run), "--n", "1", "--out", str(out), *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_grid_covers_every_sampling_option():
    assert set(VALUES) == set(SAMPLE_OPTIONS)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("option", SAMPLE_OPTIONS)
def test_an_option_the_family_ignores_is_one_line_and_exit_2(
    runs, tmp_path, capsys, family, option
):
    out = tmp_path / "grid.png"
    code, text = _sample(capsys, runs[family], out, _flag(option), VALUES[option])
    if option in USED[family]:
        assert code == 0, text
        assert out.exists()
        return
    assert code == 2, text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert text.startswith("error:") and _flag(option) in text
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--s-churn", "1"], "choose --sampler heun"),  # ddim, the default sampler
        (["--sampler", "heun", "--eta", "0.5"], "choose --sampler ddim"),
        (["--rho", "5"], "use --grid karras"),  # ddim runs on the trailing grid
        (["--grid", "trailing", "--rho", "5"], "use --grid karras"),
        (["--sampler", "heun", "--steps", "6", "--s-churn", "1", "--s-tmax", "10"], None),
        (["--sampler", "heun", "--steps", "6", "--rho", "5"], None),  # heun's own grid: karras
        (["--grid", "karras", "--rho", "5", "--steps", "2"], None),
    ],
)
def test_a_diffusion_option_follows_the_sampler_and_grid(runs, tmp_path, capsys, options, needle):
    code, text = _sample(capsys, runs["dit"], tmp_path / "g.png", *options)
    if needle is None:
        assert code == 0, text
    else:
        assert code == 2 and needle in text and len(text.strip().splitlines()) == 1, text


@pytest.mark.slow
def test_an_ignored_option_names_what_the_family_takes(runs, tmp_path, capsys):
    """The issue's case: --unmasking is MaskGIT's, so a raster AR checkpoint refuses it and
    lists its own options."""
    code, text = _sample(capsys, runs["ar"], tmp_path / "g.png", "--unmasking", "random")
    assert code == 2
    assert "--unmasking is not used by this ar checkpoint" in text
    assert all(_flag(o) in text for o in TOKENS)
