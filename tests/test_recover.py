"""Tests of the synthetic weight-recovery experiment (tensorrnn.experiments.recover)."""
from __future__ import annotations

import json
import math
import os

import pytest
import torch

from tensorrnn import cli, papers
from tensorrnn.experiments import recover
from tensorrnn.experiments.recover import (
    RecoverConfig,
    fit_factorized,
    fit_linear_regression,
    make_data,
    make_weight,
    rmse,
    run_recover,
    summarize,
    validate_shape,
)

SHAPE = papers.RECOVER_SHAPE
SIZE = papers.RECOVER_SIZE


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unfolding_rank(w: torch.Tensor, rows: tuple[int, ...]) -> int:
    """Rank of W (out, in) viewed as a tensor over (in modes, out modes), with ``rows`` the
    axes (0..3 input modes, 4..7 output modes) gathered into the rows of the unfolding."""
    t = w.reshape(*SHAPE, *SHAPE).permute(4, 5, 6, 7, 0, 1, 2, 3)  # (i1..i4, j1..j4)
    cols = tuple(a for a in range(8) if a not in rows)
    m = t.permute(*rows, *cols).reshape(math.prod(t.shape[a] for a in rows), -1)
    return int(torch.linalg.matrix_rank(m))


# --- data ------------------------------------------------------------------------------------

@pytest.mark.parametrize("construction", recover.CONSTRUCTIONS)
def test_weight_is_square_and_normalised(construction):
    w = make_weight(construction, 2, SHAPE, generator=gen())
    assert w.shape == (SIZE, SIZE) and w.dtype == torch.float64
    # Scaled to Frobenius norm sqrt(size): entries of RMS 1/9.
    assert torch.linalg.matrix_norm(w).item() == pytest.approx(9.0, rel=1e-12)


def test_matrix_construction_has_matrix_rank():
    for rank in (1, 3, 7):
        assert int(torch.linalg.matrix_rank(make_weight("matrix", rank, generator=gen(rank)))) == rank


def test_tt_construction_has_tt_ranks():
    # TT-matrix cores pair input mode k with output mode k: the unfolding that separates
    # (i1..ik, j1..jk) from the rest has rank r_k.
    w = make_weight("tt", 2, generator=gen(1))
    for k in (1, 2, 3):
        rows = tuple(range(k)) + tuple(range(4, 4 + k))
        assert unfolding_rank(w, rows) == 2
    assert int(torch.linalg.matrix_rank(w)) > 4  # not a low matrix rank


def test_tr_construction_has_tr_ranks():
    # Ring in1 in2 in3 in4 out1 .. out4: any contiguous arc cuts two bonds, rank R^2 = 4.
    w = make_weight("tr", 2, generator=gen(2))
    assert int(torch.linalg.matrix_rank(w)) == 4  # arc in1..in4 against out1..out4
    assert unfolding_rank(w, (0, 1)) == 4
    assert unfolding_rank(w, (2, 3, 4)) == 4
    assert unfolding_rank(w, (0, 4)) > 4  # a TT-matrix split: not low rank for a ring


def test_make_data_shapes_and_variances():
    w = make_weight("matrix", 3, generator=gen())
    x, y = make_data(w, papers.RECOVER_NUM_SAMPLES, 0.1, generator=gen(5))
    assert x.shape == (3200, 81) and y.shape == (3200, 81)
    # 259,200 draws each: the relative std of a variance estimate is sqrt(2/259200) = 0.3%.
    assert x.var().item() == pytest.approx(papers.RECOVER_INPUT_VARIANCE, rel=0.02)
    assert (y - x @ w.T).var().item() == pytest.approx(0.1, rel=0.02)


def test_make_data_common_random_numbers():
    w = make_weight("matrix", 3, generator=gen())
    x0, y0 = make_data(w, 200, 0.0, generator=gen(9))
    x1, y1 = make_data(w, 200, 0.04, generator=gen(9))
    x2, y2 = make_data(w, 200, 0.16, generator=gen(9))
    assert torch.equal(x0, x1) and torch.equal(x1, x2)
    assert torch.equal(y0, x0 @ w.T)  # noiseless
    # Same standard-normal draw z, scaled by sigma: sigma ratio 0.4 / 0.2 = 2.
    torch.testing.assert_close(y2 - y0, 2 * (y1 - y0), rtol=1e-12, atol=1e-12)


# --- fits ---------------------------------------------------------------------------------------

def test_linear_regression_exact_without_noise():
    w = make_weight("tr", 3, generator=gen())
    x, y = make_data(w, 400, 0.0, generator=gen(1))
    assert rmse(fit_linear_regression(x, y), w) < 1e-12


def test_linear_regression_error_matches_closed_form():
    # W_hat - W = (X^+ eps)^T, so E[RMSE^2 | X] = sigma^2 tr((X^T X)^-1) / in_features.
    w = make_weight("matrix", 3, generator=gen())
    x, y = make_data(w, 3200, 0.5, generator=gen(2))
    expected = math.sqrt(0.5 * torch.linalg.inv(x.T @ x).trace().item() / SIZE)
    # 6,561 entries: the relative std of RMSE^2 is about sqrt(2/6561) = 1.7%.
    assert rmse(fit_linear_regression(x, y), w) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("kind", ["tt", "tr"])
def test_training_loss_equals_mse_of_layer_output(kind):
    # The Gram-matrix form used for training is the MSE of the layer's own forward pass.
    w = make_weight("matrix", 4, generator=gen())
    x, y = make_data(w, 300, 0.2, generator=gen(1))
    layer = recover._LAYERS[kind](SHAPE, SHAPE, 2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(layer(x), y)
        got = recover.TrainingLoss(x, y)(layer.to_dense())
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["tt", "tr"])
def test_factorized_fit_recovers_representable_weight(kind):
    # A W exactly representable in the layer's own format, noiseless data: the fit must reach
    # the truth up to optimisation precision (RMSE < 1e-5, i.e. 1e-4 of the entries' RMS 1/9).
    w = make_weight(kind, 2, generator=gen(3))
    x, y = make_data(w, 400, 0.0, generator=gen(4))
    fit = fit_factorized(kind, x, y, 2, steps=200, restarts=2, seed=0)
    assert not fit.diverged
    assert rmse(fit.weight, w) < 1e-5
    assert fit.loss < 1e-10


def test_fit_is_deterministic_and_leaves_global_rng_alone():
    w = make_weight("tr", 2, generator=gen())
    x, y = make_data(w, 200, 0.05, generator=gen(1))
    state = torch.random.get_rng_state()
    first = fit_factorized("tr", x, y, 2, steps=20, restarts=2, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = fit_factorized("tr", x, y, 2, steps=20, restarts=2, seed=7)
    assert torch.equal(first.weight, second.weight) and first.loss == second.loss


def test_diverged_fit_is_reported_not_returned():
    w = make_weight("tt", 2, generator=gen())
    x, y = make_data(w, 200, 0.01, generator=gen(1))
    fit = fit_factorized("tt", x, y, 2, steps=5, restarts=2, optimizer="adam", lr=1e40)
    assert fit.diverged and fit.weight is None and math.isnan(fit.loss)
    assert fit.diverged_restarts == 2


def test_summarize_excludes_diverged():
    s = summarize([1.0, None, 3.0, float("nan")])
    assert s == {"mean": 2.0, "std": pytest.approx(math.sqrt(2.0)), "n": 2, "diverged": 2}
    assert summarize([None, None]) == {"mean": None, "std": None, "n": 0, "diverged": 2}
    assert summarize([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1, "diverged": 0}


def test_run_excludes_diverged_fits_from_table():
    config = RecoverConfig(noise=(0.1,), seeds=2, restarts=1, steps=5, num_samples=200,
                           optimizer="adam", lr=1e40)
    result = run_recover(config)
    rows = {r["method"]: r for r in recover.result_to_dict(result)["results"]}
    for m in ("tt", "tr"):
        assert rows[m]["rmse_mean"] is None and rows[m]["diverged"] == 2 and rows[m]["fits"] == 0
    assert rows["lr"]["diverged"] == 0 and math.isfinite(rows["lr"]["rmse_mean"])
    assert "diverged (2/2)" in recover.format_markdown(result)


# --- bad input ----------------------------------------------------------------------------------

def test_bad_shape_names_argument_and_expected_product():
    with pytest.raises(ValueError, match=r"shape=3x3x3 has product 27.*size=81"):
        validate_shape((3, 3, 3), 81)
    with pytest.raises(ValueError, match="shape"):
        RecoverConfig(shape=(9, 10))


@pytest.mark.parametrize("kwargs, name", [
    ({"noise": (0.1, 0.0)}, "noise=0.0"),
    ({"noise": (-1.0,)}, "noise=-1.0"),
    ({"num_samples": 0}, "num_samples=0"),
    ({"seeds": 0}, "seeds=0"),
    ({"construction": "cp"}, "construction='cp'"),
])
def test_bad_config_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RecoverConfig(**kwargs)


def test_make_data_rejects_negative_noise_and_samples():
    w = make_weight("matrix", 1, generator=gen())
    with pytest.raises(ValueError, match="noise_variance=-0.1"):
        make_data(w, 10, -0.1)
    with pytest.raises(ValueError, match="num_samples=-5"):
        make_data(w, -5, 0.1)


@pytest.mark.parametrize("argv, message", [
    (["--noise", "0.1", "-0.5"], "--noise=-0.5"),
    (["--samples", "0"], "--samples=0"),
    (["--shape", "3", "3", "3"], "--shape=3x3x3 has product 27"),
])
def test_command_bad_input_is_one_line_error(argv, message, capsys):
    assert cli.main(["experiment", "recover", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_command_out_must_be_a_directory(tmp_path, capsys):
    path = tmp_path / "file.png"
    path.write_bytes(b"")
    assert cli.main(["experiment", "recover", "--quick", "--out", str(path)]) == 2
    assert f"--out={str(path)!r}: expected a directory" in capsys.readouterr().err


# --- the command ---------------------------------------------------------------------------------

def test_command_writes_json_and_figures(tmp_path, capsys):
    from matplotlib.image import imread

    out = tmp_path / "figs"
    assert cli.main(["experiment", "recover", "--quick", "--json", "--out", str(out)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["config"]["noise"] == [0.01, 0.1] and payload["config"]["seeds"] == 2
    assert payload["params"] == {"lr": 6561, "tt": 216, "tr": 216}
    assert {(r["noise_variance"], r["method"]) for r in payload["results"]} == {
        (n, m) for n in (0.01, 0.1) for m in ("lr", "tt", "tr")}
    for row in payload["results"]:
        assert math.isfinite(row["rmse_mean"]) and math.isfinite(row["rmse_std"])
        assert row["fits"] + row["diverged"] == 2
    assert json.loads((out / recover.RESULT_JSON).read_text())["results"] == payload["results"]
    for name in (recover.FIGURE_WEIGHTS, recover.FIGURE_RMSE):
        image = imread(out / name)  # fails on a truncated or non-PNG file
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert sorted(p.name for p in out.iterdir()) == sorted(  # no temp files left behind
        [recover.FIGURE_WEIGHTS, recover.FIGURE_RMSE, recover.RESULT_JSON, recover.RESULT_MD])
    umask = os.umask(0)
    os.umask(umask)
    for path in out.iterdir():  # atomic writes must not leave mkstemp's private 0600 mode
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_command_prints_table(capsys):
    argv = ["experiment", "recover", "--quick", "--noise", "0.5", "--seeds", "1", "--samples", "300"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "noise variance" in out and "TR (rank 3)" in out and "0.5" in out
