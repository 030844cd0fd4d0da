"""The TR paper's synthetic weight-recovery experiment (``tensorrnn experiment recover``).

Pan et al. (AAAI 2019) draw a low-rank 81 x 81 weight ``W``, 3,200 inputs ``x ~ N(0, 0.5 I)``
and targets ``y = W x + eps`` with ``eps ~ N(0, sigma^2 I)``, then estimate ``W`` three ways:
(a) linear regression in closed form, (b) a tensor-train layer and (c) a tensor-ring layer,
both with input and output reshaped 3x3x3x3 and trained without regularisation. Each estimate
is scored by the RMSE of its entries against the true ``W``, over a sweep of noise variances
``sigma^2``. Reported: TR recovers ``W`` best and degrades least with noise; TT can be worse
than plain least squares.

Choices this module makes (the paper does not state them; ``docs/reproduction.md`` repeats
them):

- ``W`` is drawn in one of three low-rank families (``construction``): ``"matrix"`` (``A B^T``
  with ``A, B`` of ``rank`` columns), ``"tt"`` (a :class:`~tensorrnn.nn.TTLinear` weight of TT
  rank ``rank``) or ``"tr"`` (a :class:`~tensorrnn.nn.TRLinear` weight of TR rank ``rank``,
  the default); factors have i.i.d. N(0, 1) entries. ``W`` is then scaled to Frobenius norm
  ``sqrt(size)``, i.e. entries of RMS ``1/sqrt(size)`` (1/9 for 81), so that each output
  ``W_i x`` has signal variance ``input_variance`` (0.5) on average and ``sigma^2`` sets the
  signal-to-noise ratio ``input_variance / sigma^2``.
- Per seed, ``W``, the inputs and a standard-normal noise draw ``z`` are fixed and
  ``eps = sigma z`` for every ``sigma^2`` of the sweep (common random numbers: the curves
  over noise are smooth and differences between methods are not sampling noise).
- TT and TR are fitted with the project's own layers (no bias, float64) by full-batch L-BFGS
  with a strong-Wolfe line search on the training mean squared error (``optimizer="adam"`` for
  full-batch Adam with cosine decay instead), from the layers' own Glorot initialisation; of
  ``restarts`` random restarts the one with the lowest training loss is kept. The MSE is
  evaluated exactly from the ``(in, in)`` Gram matrix through the layer's ``to_dense()``
  (:class:`TrainingLoss`), not by a pass over the 3,200 samples: the same loss, about 5x
  cheaper per evaluation (measured with both layers, one thread).
- A restart *diverges* when its final training loss or any parameter is not finite, or its
  final loss is above its initial loss. A fit diverges when all its restarts do; diverged fits
  are counted and left out of the mean and standard deviation, never averaged in.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from tensorrnn import papers
from tensorrnn.figures import save_figure
from tensorrnn.files import atomic_write_text
from tensorrnn.nn import TRLinear, TTLinear

CONSTRUCTIONS = ("matrix", "tt", "tr")
METHODS = ("lr", "tt", "tr")
OPTIMIZERS = ("lbfgs", "adam")
#: Default sweep of noise variances sigma^2 (signal variance per output is 0.5).
DEFAULT_NOISE = (0.01, 0.05, 0.1, 0.5, 1.0)
#: Default step size per optimizer (L-BFGS scales its step by the line search).
DEFAULT_LR = {"lbfgs": 1.0, "adam": 1e-2}

_LAYERS = {"tt": TTLinear, "tr": TRLinear}


# --- validation --------------------------------------------------------------------------------

def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r}: expected a positive integer")
    return value


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r}: expected a finite number > 0")
    return float(value)


def validate_shape(shape: Sequence[int], size: int, name: str = "shape") -> tuple[int, ...]:
    """Check that ``shape`` reshapes a vector of ``size`` entries; return it as a tuple.

    Raises:
        ValueError: naming ``name``, the shape and the expected product.
    """
    shape = tuple(shape)
    if not shape or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in shape):
        raise ValueError(f"{name}={shape!r}: expected one or more positive integer modes")
    if math.prod(shape) != size:
        raise ValueError(
            f"{name}={'x'.join(map(str, shape))} has product {math.prod(shape)}: "
            f"expected the modes to multiply to size={size}"
        )
    return shape


# --- data ----------------------------------------------------------------------------------------

def _factorized(kind: str, shape: tuple[int, ...], rank: int, dtype: torch.dtype,
                seed: int | None = None) -> torch.nn.Module:
    """A square factorised layer of format ``kind`` on ``shape`` (input and output), no bias.

    Its initialisation draws from torch's global RNG seeded with ``seed`` (if given); the
    global RNG state is restored afterwards, so building a layer has no side effect.
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return _LAYERS[kind](shape, shape, rank, bias=False, dtype=dtype)


def make_weight(
    construction: str = "tr",
    rank: int = 3,
    shape: Sequence[int] = papers.RECOVER_SHAPE,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Draw a low-rank square weight ``W`` of size ``prod(shape)``, scaled to RMS ``1/sqrt(size)``.

    Args:
        construction: ``"matrix"`` (matrix rank ``rank``), ``"tt"`` (TT-matrix of rank ``rank``
            over ``shape``, as :class:`TTLinear`) or ``"tr"`` (tensor ring of rank ``rank``,
            ``len(shape)`` input cores then as many output cores, as :class:`TRLinear`).
        rank: the rank of the construction.
        shape: modes the input and output are reshaped to.
        generator: source of the N(0, 1) factor entries.
        dtype: floating dtype of the result.

    Shape:
        Output: ``(size, size)``, laid out like ``nn.Linear.weight`` (out, in).

    Examples:
        >>> w = make_weight("matrix", 2, (3, 3, 3, 3), generator=torch.Generator().manual_seed(0))
        >>> w.shape, int(torch.linalg.matrix_rank(w))
        (torch.Size([81, 81]), 2)
    """
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"construction={construction!r}: expected one of {', '.join(CONSTRUCTIONS)}")
    rank = _positive_int("rank", rank)
    shape = tuple(shape)
    size = math.prod(shape)
    validate_shape(shape, size)  # positive integer modes
    if construction == "matrix":
        if rank > size:
            raise ValueError(f"rank={rank}: expected at most size={size} for construction='matrix'")
        a = torch.randn(size, rank, generator=generator, dtype=dtype)  # (O, r)
        b = torch.randn(size, rank, generator=generator, dtype=dtype)  # (I, r)
        weight = a @ b.T  # (O, I)
    else:
        layer = _factorized(construction, shape, rank, dtype)
        with torch.no_grad():
            # Overwrite the layer's own init so the draw depends only on ``generator``.
            for p in layer.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=dtype))
            weight = layer.to_dense()  # (O, I)
    weight = weight.detach()
    return weight * (math.sqrt(size) / torch.linalg.matrix_norm(weight))


def make_data(
    weight: Tensor,
    num_samples: int = papers.RECOVER_NUM_SAMPLES,
    noise_variance: float = 0.1,
    *,
    input_variance: float = papers.RECOVER_INPUT_VARIANCE,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Draw ``x ~ N(0, input_variance I)`` and ``y = W x + eps``, ``eps ~ N(0, noise_variance I)``.

    ``x`` is drawn before the noise, so re-seeding ``generator`` gives the same inputs and the
    same standard-normal noise for any ``noise_variance`` (common random numbers).

    Args:
        weight: ``(out, in)`` true weight.
        num_samples: number of samples N.
        noise_variance: sigma^2 (0 for noiseless data).
        input_variance: variance of each input entry.
        generator: random source.

    Shape:
        Output: ``x`` of shape ``(N, in)``, ``y`` of shape ``(N, out)``.
    """
    num_samples = _positive_int("num_samples", num_samples)
    input_variance = _positive_float("input_variance", input_variance)
    if not math.isfinite(noise_variance) or noise_variance < 0:
        raise ValueError(f"noise_variance={noise_variance!r}: expected a finite number >= 0")
    out_features, in_features = weight.shape
    kw = dict(generator=generator, dtype=weight.dtype)
    x = torch.randn(num_samples, in_features, **kw) * math.sqrt(input_variance)  # (N, I)
    eps = torch.randn(num_samples, out_features, **kw) * math.sqrt(noise_variance)  # (N, O)
    return x, x @ weight.T + eps  # (N, I), (N, O)


def rmse(estimate: Tensor, truth: Tensor) -> float:
    """Root-mean-square error between the entries of two weights."""
    return float(torch.sqrt(torch.mean((estimate - truth) ** 2)))


# --- fits ------------------------------------------------------------------------------------------

def fit_linear_regression(x: Tensor, y: Tensor) -> Tensor:
    """Least-squares ``W`` for ``y = W x`` in closed form (``torch.linalg.lstsq``).

    Shape:
        Input: ``x`` ``(N, in)``, ``y`` ``(N, out)``. Output: ``(out, in)``.
    """
    # gelsd is the SVD driver: the minimum-norm solution when N < in instead of garbage.
    return torch.linalg.lstsq(x, y, driver="gelsd").solution.T  # (O, I)


@dataclass
class FitResult:
    """The best of several restarts of a factorised fit.

    ``weight`` is ``None`` and ``loss`` is NaN when every restart diverged.
    """

    weight: Tensor | None
    loss: float
    diverged_restarts: int
    restarts: int

    @property
    def diverged(self) -> bool:
        return self.weight is None


class TrainingLoss:
    """The training MSE ``mean((y - x W^T)^2)`` of a weight, from ``(in, in)`` statistics.

    With ``W_ls`` the least-squares solution, the residual of ``W_ls`` is orthogonal to the
    columns of ``x``, so ``||y - x W^T||^2 = ||y - x W_ls^T||^2 + tr(D x^T x D^T)`` with
    ``D = W - W_ls``. This is the same loss as ``F.mse_loss(layer(x), y)``, but one evaluation
    costs an ``(out, in) x (in, in)`` product instead of a pass over all N samples, and it has
    no cancellation near zero (a noiseless fit can reach round-off).

    Shape:
        Input: ``x`` ``(N, in)``, ``y`` ``(N, out)``; call with a weight ``(out, in)``.
    """

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.w_ls = fit_linear_regression(x, y)  # (O, I)
        self.gram = x.T @ x  # (I, I)
        self.base = ((y - x @ self.w_ls.T) ** 2).sum()  # residual of least squares, >= 0
        self.count = y.numel()

    def __call__(self, weight: Tensor) -> Tensor:
        d = weight - self.w_ls  # (O, I)
        return (self.base + ((d @ self.gram) * d).sum()) / self.count


def _train(layer: torch.nn.Module, loss_fn: TrainingLoss, steps: int, optimizer: str, lr: float) -> tuple[float, float]:
    """Minimise the training MSE of ``layer`` in place; return (initial, final) loss."""
    params = list(layer.parameters())

    def loss_value() -> float:
        with torch.no_grad():
            return float(loss_fn(layer.to_dense()))

    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn(layer.to_dense())
        loss.backward()
        return loss

    initial = loss_value()
    if optimizer == "lbfgs":
        # One step() runs up to max_iter iterations; tolerances at float64 level so that an
        # exactly representable W is fitted to round-off, not to float32's default tolerance.
        opt = torch.optim.LBFGS(params, lr=lr, max_iter=steps, history_size=50,
                                tolerance_grad=1e-15, tolerance_change=1e-20,
                                line_search_fn="strong_wolfe")
        opt.step(closure)
    else:
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        for _ in range(steps):
            if not math.isfinite(opt.step(closure).item()):
                break  # diverged; later steps would only propagate NaN
            sched.step()
    return initial, loss_value()


def _is_diverged(layer: torch.nn.Module, initial: float, final: float) -> bool:
    finite = all(bool(torch.isfinite(p).all()) for p in layer.parameters())
    return not (finite and math.isfinite(final) and final <= initial)


@contextmanager
def one_thread():
    """Run torch on one intra-op thread, then restore the setting.

    The fits are chains of tiny (81 x 81) products: extra threads only add synchronisation,
    which on a loaded machine makes each evaluation an order of magnitude slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fit_factorized(
    kind: str,
    x: Tensor,
    y: Tensor,
    rank: int,
    shape: Sequence[int] = papers.RECOVER_SHAPE,
    *,
    steps: int = 150,
    restarts: int = 3,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    seed: int = 0,
) -> FitResult:
    """Fit ``y = W x`` with ``W`` a TT (``kind="tt"``) or TR (``"tr"``) layer, best of restarts.

    Each restart builds a fresh layer (no bias, the dtype of ``x``) under the torch seed
    ``seed * 1000 + restart`` (the global RNG is restored afterwards) and trains it on the
    full batch. The restart with the lowest final training MSE among those that did not
    diverge is kept. The loss is the exact training MSE in the form of
    :class:`TrainingLoss`, through the layer's ``to_dense()``.

    Args:
        kind: ``"tt"`` or ``"tr"``.
        x, y: training data, ``(N, in)`` and ``(N, out)``.
        rank: TT or TR rank of the layer (int: every rank).
        shape: modes of the input and the output.
        steps: L-BFGS iterations or Adam steps per restart.
        restarts: random restarts.
        optimizer: ``"lbfgs"`` or ``"adam"``.
        lr: step size (default: 1 for L-BFGS, 1e-2 for Adam).
        seed: base of the restarts' seeds.
    """
    if kind not in _LAYERS:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(_LAYERS)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    steps, restarts = _positive_int("steps", steps), _positive_int("restarts", restarts)
    lr = DEFAULT_LR[optimizer] if lr is None else _positive_float("lr", lr)
    shape = tuple(shape)
    loss_fn = TrainingLoss(x, y)
    best_weight, best_loss, diverged = None, math.inf, 0
    for restart in range(restarts):
        layer = _factorized(kind, shape, rank, x.dtype, seed=seed * 1000 + restart)
        with one_thread():
            initial, final = _train(layer, loss_fn, steps, optimizer, lr)
        if _is_diverged(layer, initial, final):
            diverged += 1
        elif final < best_loss:
            best_loss = final
            with torch.no_grad():
                best_weight = layer.to_dense().detach()  # (O, I)
    return FitResult(best_weight, best_loss if best_weight is not None else math.nan, diverged, restarts)


# --- the sweep -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoverConfig:
    """Settings of one run of the experiment; validated on construction.

    Defaults: the TR paper's sizes (81 = 3x3x3x3, 3,200 samples, input variance 0.5), a
    TR-rank-3 ``W``, and TT and TR fits of rank 3, which have the same number of parameters
    (216) on 3x3x3x3.
    """

    construction: str = "tr"
    rank: int = 3
    shape: tuple[int, ...] = papers.RECOVER_SHAPE
    size: int = papers.RECOVER_SIZE
    num_samples: int = papers.RECOVER_NUM_SAMPLES
    input_variance: float = papers.RECOVER_INPUT_VARIANCE
    noise: tuple[float, ...] = DEFAULT_NOISE
    seeds: int = 3
    seed: int = 0
    restarts: int = 3
    steps: int = 150
    tt_rank: int = 3
    tr_rank: int = 3
    optimizer: str = "lbfgs"
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.construction not in CONSTRUCTIONS:
            raise ValueError(f"construction={self.construction!r}: expected one of {', '.join(CONSTRUCTIONS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        for name in ("rank", "size", "num_samples", "seeds", "restarts", "steps", "tt_rank", "tr_rank"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r}: expected an integer >= 0")
        object.__setattr__(self, "shape", validate_shape(self.shape, self.size))
        _positive_float("input_variance", self.input_variance)
        if not self.noise:
            raise ValueError("noise=(): expected one or more noise variances > 0")
        # > 0, not >= 0: the sweep is plotted on a log axis of sigma^2.
        object.__setattr__(self, "noise", tuple(_positive_float("noise", v) for v in self.noise))
        if self.lr is not None:
            _positive_float("lr", self.lr)


@dataclass
class RecoverResult:
    """Outcome of :func:`run_recover`.

    ``rmse[method][i][s]`` is the RMSE for noise ``config.noise[i]`` and seed ``s`` (``None``
    when the fit diverged); ``loss`` likewise holds the training MSE. ``examples`` holds the
    weights of the first seed at the largest noise variance, for the heat maps.
    """

    config: RecoverConfig
    params: dict[str, int]
    rmse: dict[str, list[list[float | None]]]
    loss: dict[str, list[list[float | None]]]
    examples: dict[str, Tensor | None] = field(default_factory=dict)
    example_noise: float = math.nan


def summarize(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and sample standard deviation over the fits that did not diverge.

    ``None`` or non-finite values are diverged fits: counted, never averaged in. The mean and
    std are ``None`` when every fit diverged; std is 0 for a single fit.
    """
    ok = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(ok)
    mean = sum(ok) / n if n else None
    std = math.sqrt(sum((v - mean) ** 2 for v in ok) / (n - 1)) if n > 1 else (0.0 if n else None)
    return {"mean": mean, "std": std, "n": n, "diverged": len(values) - n}


def num_fits(config: RecoverConfig) -> int:
    """Factorised fits (restarts included) a run performs, for progress bars."""
    return config.seeds * len(config.noise) * 2 * config.restarts


def run_recover(config: RecoverConfig, progress=None) -> RecoverResult:
    """Run the sweep: per seed, per noise variance, fit LR, TT and TR and score them.

    Args:
        config: the settings.
        progress: optional callable ``progress(n)`` told after each ``n`` factorised restarts.
    """
    dtype = torch.float64  # a small problem: float64 so that noiseless fits reach round-off
    params = {
        "lr": config.size * config.size,
        "tt": _factorized("tt", config.shape, config.tt_rank, dtype).num_factor_params,
        "tr": _factorized("tr", config.shape, config.tr_rank, dtype).num_factor_params,
    }
    rmse_: dict[str, list[list[float | None]]] = {m: [[] for _ in config.noise] for m in METHODS}
    loss_: dict[str, list[list[float | None]]] = {m: [[] for _ in config.noise] for m in METHODS}
    examples: dict[str, Tensor | None] = {}
    example_index = max(range(len(config.noise)), key=lambda i: config.noise[i])
    ranks = {"tt": config.tt_rank, "tr": config.tr_rank}
    for s in range(config.seeds):
        seed = config.seed + s
        gen = torch.Generator().manual_seed(seed)
        weight = make_weight(config.construction, config.rank, config.shape, generator=gen, dtype=dtype)
        data_state = gen.get_state()
        for i, noise in enumerate(config.noise):
            gen.set_state(data_state)  # same x and z for every noise variance
            x, y = make_data(weight, config.num_samples, noise,
                             input_variance=config.input_variance, generator=gen)
            estimates = {"lr": fit_linear_regression(x, y)}
            losses = {"lr": float(F.mse_loss(x @ estimates["lr"].T, y))}
            for kind in ("tt", "tr"):
                fit = fit_factorized(kind, x, y, ranks[kind], config.shape, steps=config.steps,
                                     restarts=config.restarts, optimizer=config.optimizer,
                                     lr=config.lr, seed=seed)
                estimates[kind], losses[kind] = fit.weight, fit.loss
                if progress is not None:
                    progress(config.restarts)
            for m in METHODS:
                est = estimates[m]
                ok = est is not None and bool(torch.isfinite(est).all())
                rmse_[m][i].append(rmse(est, weight) if ok else None)
                loss_[m][i].append(losses[m] if ok else None)
            if s == 0 and i == example_index:
                examples = {"true": weight, **estimates}
    return RecoverResult(config, params, rmse_, loss_, examples, config.noise[example_index])


def result_to_dict(result: RecoverResult) -> dict:
    """A JSON-ready dict (no NaN: diverged values are ``None``)."""
    config = asdict(result.config)
    config["shape"] = list(config["shape"])
    config["noise"] = list(config["noise"])
    rows = []
    for i, noise in enumerate(result.config.noise):
        for m in METHODS:
            summary = summarize(result.rmse[m][i])
            rows.append({
                "noise_variance": noise,
                "method": m,
                "rmse_mean": summary["mean"],
                "rmse_std": summary["std"],
                "fits": summary["n"],
                "diverged": summary["diverged"],
                "rmse": result.rmse[m][i],
                "train_loss": result.loss[m][i],
            })
    return {"experiment": "recover", "config": config, "params": result.params, "results": rows}


# --- output: table, figures, command line --------------------------------------------------------

def _cell(summary: dict) -> str:
    if summary["mean"] is None:
        return f"diverged ({summary['diverged']}/{summary['diverged']})"
    text = f"{summary['mean']:.4g} ± {summary['std']:.2g}"
    if summary["diverged"]:
        text += f" ({summary['diverged']}/{summary['n'] + summary['diverged']} diverged)"
    return text


def format_table(result: RecoverResult):
    """A :class:`rich.table.Table` of RMSE mean ± std over seeds, one row per noise variance."""
    from rich.table import Table

    c = result.config
    table = Table(title=(
        f"RMSE of the recovered {c.size}x{c.size} W ({c.construction} construction, rank {c.rank}; "
        f"{c.seeds} seed(s), mean ± std; {c.num_samples} samples)"
    ))
    table.add_column("noise variance σ²", justify="right")
    names = {"lr": "LR", "tt": f"TT (rank {c.tt_rank})", "tr": f"TR (rank {c.tr_rank})"}
    for m in METHODS:
        table.add_column(f"{names[m]}\n{result.params[m]:,} params", justify="right")
    for i, noise in enumerate(c.noise):
        table.add_row(f"{noise:g}", *(_cell(summarize(result.rmse[m][i])) for m in METHODS))
    return table


def format_markdown(result: RecoverResult) -> str:
    """The same table as markdown, for docs/reproduction.md."""
    c = result.config
    names = {"lr": "LR", "tt": f"TT (rank {c.tt_rank})", "tr": f"TR (rank {c.tr_rank})"}
    head = "| noise variance σ² | " + " | ".join(f"{names[m]}, {result.params[m]:,} params" for m in METHODS) + " |"
    lines = [head, "|---:|" + "---:|" * len(METHODS)]
    for i, noise in enumerate(c.noise):
        cells = [_cell(summarize(result.rmse[m][i])) for m in METHODS]
        lines.append(f"| {noise:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _save_figure(fig, path) -> None:
    save_figure(fig, path, dpi=120, bbox_inches="tight")


def plot_weights(result: RecoverResult, path) -> None:
    """Heat maps of the true W and the LR, TT and TR estimates (the TR paper's figure 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex, c = result.examples, result.config
    # A product of Gaussian cores is heavy-tailed: a colour range set by the largest entry
    # would show a few spikes on grey, so clip it at the 99th percentile of |W|.
    vmax = float(torch.quantile(ex["true"].abs().flatten(), 0.99))
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), constrained_layout=True)
    titles = {"true": "true W", "lr": "linear regression", "tt": f"TT, rank {c.tt_rank}",
              "tr": f"TR, rank {c.tr_rank}"}
    for ax, key in zip(axes, ("true", *METHODS)):
        w = ex.get(key)
        ax.set_xticks([])
        ax.set_yticks([])
        if w is None:
            ax.set_title(f"{titles[key]}\ndiverged")
            continue
        image = ax.imshow(w.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        subtitle = "" if key == "true" else f"\nRMSE {rmse(w, ex['true']):.3g}"
        ax.set_title(titles[key] + subtitle)
    fig.colorbar(image, ax=axes, shrink=0.8, extend="both", label="colour clipped at 99th pct of |W|")
    fig.suptitle(f"{c.construction}-rank-{c.rank} W ({c.size}x{c.size}), noise variance "
                 f"{result.example_noise:g}, seed {c.seed}")
    _save_figure(fig, path)


def plot_rmse(result: RecoverResult, path) -> None:
    """RMSE of the recovered W against the noise variance for LR, TT and TR (figure 6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result.config
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    labels = {"lr": "linear regression", "tt": f"TT, rank {c.tt_rank}", "tr": f"TR, rank {c.tr_rank}"}
    for m, marker in zip(METHODS, "os^"):
        points = [(noise, summarize(result.rmse[m][i])) for i, noise in enumerate(c.noise)]
        points = [(n, s) for n, s in points if s["mean"] is not None]  # diverged: no point
        if points:
            ax.errorbar([n for n, _ in points], [s["mean"] for _, s in points],
                        yerr=[s["std"] for _, s in points], marker=marker, capsize=3,
                        label=f"{labels[m]} ({result.params[m]:,} params)")
    # W is scaled to entries of RMS 1/sqrt(size): the RMSE of the all-zero estimate, i.e. a
    # fit at this line has recovered nothing.
    ax.axhline(1 / math.sqrt(c.size), color="grey", linestyle="--", linewidth=1,
               label=f"zero estimate (RMS of W = {1 / math.sqrt(c.size):.3g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("noise variance σ²")
    ax.set_ylabel("RMSE of recovered W")
    ax.set_title(f"{c.construction}-rank-{c.rank} W, {c.seeds} seed(s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16))
    _save_figure(fig, path)


#: File names written under ``--out``.
FIGURE_WEIGHTS = "recover_weights.png"
FIGURE_RMSE = "recover_rmse.png"
RESULT_JSON = "recover.json"
RESULT_MD = "recover.md"

#: What ``--quick`` sets, for any option not given explicitly (a smoke run for tests).
QUICK = {"noise": (0.01, 0.1), "seeds": 2, "restarts": 1, "steps": 40}


def add_arguments(parser) -> None:
    """Options of ``tensorrnn experiment recover`` (defaults are those of RecoverConfig)."""
    d = RecoverConfig()
    parser.add_argument("--construction", choices=CONSTRUCTIONS, default=d.construction,
                        help="low-rank family of the true W (default: %(default)s)")
    parser.add_argument("--rank", type=int, default=d.rank, help="rank of the true W (default: %(default)s)")
    parser.add_argument("--size", type=int, default=d.size, help="W is size x size (default: %(default)s)")
    parser.add_argument("--shape", type=int, nargs="+", default=list(d.shape),
                        help="modes of input and output, product = size (default: 3 3 3 3)")
    parser.add_argument("--samples", type=int, default=d.num_samples, help="samples (default: %(default)s)")
    parser.add_argument("--input-variance", "--input_variance", type=float, default=d.input_variance,
                        help="variance of the inputs x (default: %(default)s)")
    parser.add_argument("--noise", type=float, nargs="+", default=None,
                        help=f"noise variances sigma^2 > 0 (default: {' '.join(map(str, d.noise))})")
    parser.add_argument("--seeds", type=int, default=None, help=f"number of seeds (default: {d.seeds})")
    parser.add_argument("--seed", type=int, default=d.seed, help="first seed (default: %(default)s)")
    parser.add_argument("--restarts", type=int, default=None,
                        help=f"random restarts per TT/TR fit, best training loss kept (default: {d.restarts})")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"L-BFGS iterations or Adam steps per restart (default: {d.steps})")
    parser.add_argument("--tt-rank", "--tt_rank", type=int, default=d.tt_rank,
                        help="TT rank of the TT fit (default: %(default)s)")
    parser.add_argument("--tr-rank", "--tr_rank", type=int, default=d.tr_rank,
                        help="TR rank of the TR fit (default: %(default)s)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                        help="full-batch optimizer (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=None, help="step size (default: 1 for lbfgs, 1e-2 for adam)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: noise 0.01 0.1, 2 seeds, 1 restart, 40 steps (unless given)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--out", default=None, help="directory for the figures (PNG) and recover.json/.md")


def config_from_args(args) -> RecoverConfig:
    """Build the config from parsed options; ``--quick`` fills the options left unset."""
    d = RecoverConfig()
    chosen = {k: getattr(args, k) for k in QUICK}
    for key, value in chosen.items():
        if value is None:
            chosen[key] = QUICK[key] if args.quick else getattr(d, key)
    try:
        return RecoverConfig(
            construction=args.construction, rank=args.rank, shape=tuple(args.shape), size=args.size,
            num_samples=args.samples, input_variance=args.input_variance, noise=tuple(chosen["noise"]),
            seeds=chosen["seeds"], seed=args.seed, restarts=chosen["restarts"], steps=chosen["steps"],
            tt_rank=args.tt_rank, tr_rank=args.tr_rank, optimizer=args.optimizer, lr=args.lr,
        )
    except ValueError as err:
        # Name the command-line option the user typed, not the Python field.
        name, sep, rest = str(err).partition("=")
        if sep and name in _OPTION_OF:
            raise ValueError(f"{_OPTION_OF[name]}={rest}") from None
        raise


#: RecoverConfig field -> command-line option, for error messages.
_OPTION_OF = {
    "construction": "--construction", "rank": "--rank", "shape": "--shape", "size": "--size",
    "num_samples": "--samples", "input_variance": "--input-variance", "noise": "--noise",
    "seeds": "--seeds", "seed": "--seed", "restarts": "--restarts", "steps": "--steps",
    "tt_rank": "--tt-rank", "tr_rank": "--tr-rank", "optimizer": "--optimizer", "lr": "--lr",
}


def run_command(args) -> int:
    """``tensorrnn experiment recover``: run, print the table or JSON, write the figures."""
    import json
    import sys
    from pathlib import Path

    from tqdm import tqdm

    config = config_from_args(args)
    out = None
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"--out={args.out!r}: expected a directory, found a file")
        out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=num_fits(config), desc="recover: TT/TR restarts", unit="fit",
              file=sys.stderr, leave=False) as bar:
        result = run_recover(config, progress=bar.update)
    payload = result_to_dict(result)
    if out is not None:
        plot_weights(result, out / FIGURE_WEIGHTS)
        plot_rmse(result, out / FIGURE_RMSE)
        payload["figures"] = [str(out / FIGURE_WEIGHTS), str(out / FIGURE_RMSE)]
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
        atomic_write_text(out / RESULT_JSON, text)
        table = format_markdown(result)
        atomic_write_text(out / RESULT_MD, table)
    if args.json:
        print(json.dumps(payload, indent=2, allow_nan=False))
    else:
        from rich.console import Console

        console = Console()
        console.print(format_table(result))
        if out is not None:
            console.print(f"figures: {out / FIGURE_WEIGHTS}, {out / FIGURE_RMSE}; table: {out / RESULT_MD}")
    return 0
