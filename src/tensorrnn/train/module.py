"""The LightningModule: a tensorised sequence classifier, its loss, optimiser and metrics.

Everything the model needs is a plain value (strings, ints, lists), so that
``save_hyperparameters()`` stores a checkpoint that loads with ``torch.load(weights_only=True)``
and a checkpoint alone is enough to rebuild the network (``tensorrnn predict``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics.classification as tmc
from lightning.pytorch.callbacks import Timer
from torch import nn

from tensorrnn.errors import UsageError, check_keywords
from tensorrnn.nn import FACTORIZATIONS
from tensorrnn.nn.context import SceneContext
from tensorrnn.nn.stem import MAX_DEPTH, STEM_INITS, ConvStem

ARCHS = ("rnn", "gru", "lstm", "mlp")
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}
SCHEDULERS = ("none", "cosine", "step", "plateau")
NORMALIZATIONS = ("auto", "none")
EVAL_STAGES = ("val", "test")
#: Training clips the input statistics are estimated from at the start of fit.
STATISTICS_CLIPS = 64
#: The checkpoint key of a feature model's features record (``tensorrnn features``' features.json).
FEATURE_RECORD = "feature_record"


class NonFiniteLossError(UsageError):
    """The training loss became NaN or infinite; the run stops without saving that state."""


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, allowed))}")
    return value


def _check_rnn_options(arch: str, options: dict[str, Any]) -> None:
    """``rnn_options`` reach the network's constructor; a key this module sets from its own
    argument (``rank``, ``recurrent_dropout``, ...) would clash with, or silently override, it."""
    from tensorrnn.nn.classifier import ARCHS as NETWORKS, TTMLP

    own = ["in_shape", "hidden_shape", "factorization", "rank", "blocks"]
    own += (["num_classes", "multilabel", "dropout"] if arch == "mlp"
            else ["shared_gates", "recurrent_dropout", "input_dropout", "recurrent_factorization",
                  "recurrent_shape", "recurrent_rank"])
    cls = TTMLP if arch == "mlp" else NETWORKS[arch]
    check_keywords("model.rnn_options", options, cls, {key: f"model.{key}" for key in own})


def _shape(name: str, value: Sequence[int]) -> list[int]:
    shape = list(value) if isinstance(value, (list, tuple)) else None
    if not shape or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"{name}={value!r}: expected a non-empty list of positive integers")
    return shape


def auto_in_shape(frame_features: int, modes: int) -> list[int]:
    """``model.in_shape: auto``: ``frame_features`` as ``modes`` balanced factors in ascending
    order (the input side of :func:`tensorrnn.tensor.shapes.suggest_shapes`).

    Examples:
        >>> auto_in_shape(64 * 64 * 3, 4), auto_in_shape(160 * 120 * 3, 4)
        ([8, 8, 12, 16], [15, 15, 16, 16])
    """
    from tensorrnn.tensor.shapes import factorize

    return list(factorize(frame_features, modes, order="ascending"))


def fitting_in_shape(frame_features: int, modes: int) -> str:
    """A hint for a shape error: an ``in_shape`` of ``modes`` modes whose product is ``frame_features``."""
    for d in dict.fromkeys((modes, 4, 3, 2)):
        try:
            return f"e.g. model.in_shape={auto_in_shape(frame_features, d)}"
        except ValueError:
            continue
    return f"e.g. model.in_shape=[{frame_features}]"


class VideoClassifier(L.LightningModule):
    """A tensorised RNN (or TT-MLP) that classifies a clip from its frames.

    The defaults are the project's training recipe, chosen by measurement on a family of
    generated action sets (``bench/bench_accuracy.py``, ``docs/recipes.md``): the
    differences of consecutive frames as input, normalised with statistics estimated from the
    training clips, AdamW 1e-3 with a one-epoch warm-up and a
    cosine decay per step, dropout on the input map and on the last state, label smoothing and
    gradient clipping. The papers' recipe (Keras code: ``pixel - 128`` fed as it is, Adam 1e-4,
    hard-sigmoid gates, L2 1e-2 on the output layer) is ``configs/paper/*.yaml``.

    Args:
        arch: ``"rnn" | "gru" | "lstm" | "mlp"``.
        factorization: the input-to-hidden map, ``"tt" | "tr" | "bt" | "ht" | "dense"``.
        in_shape: the factorisation of one frame's features (product = H*W*3, or F for
            precomputed features), e.g. ``[8, 20, 20, 18]`` for 160x120x3; ``"auto"``: balanced
            factors of ``frame_features`` with as many modes as ``hidden_shape``
            (:func:`auto_in_shape`; 64x64x3 -> ``[8, 8, 12, 16]``).
        hidden_shape: the factorisation of the hidden size, e.g. ``[4, 4, 4, 4]`` (256).
        rank: TT / TR / BT / HT rank: an int or a list (see ``tensorrnn.nn``).
        blocks: BT blocks.
        shared_gates: pack all gates into one factorised map (the papers) or one map per gate.
        recurrent_factorization: the hidden-to-hidden map ``U``: ``"dense"`` (the papers) or a
            format (``"tt"``, ...): the fully factorised model, e.g. the UCF11 TT-GRU in 8,363
            parameters (``configs/ucf11_tt_gru_full.yaml``). Not for ``"mlp"``.
        recurrent_shape: modes of ``U``: its input modes (product = hidden size; output modes
            by the gates) or ``[in_modes, out_modes]``; default ``hidden_shape``.
        recurrent_rank: rank of a factorised ``U`` (default: ``rank``).
        dropout: dropout on the last hidden state before the output layer.
        recurrent_dropout: variational dropout on the recurrent state (original code: 0.25).
        input_dropout: dropout on the input map's output (the gates' input pre-activations).
        feature_dropout: dropout on every step's input, after the normalisation: for per-frame
            CNN features (``data.features``) each feature is dropped on its own, the
            augmentation that fits features (frames are augmented in the data instead).
            Training only; ``predict``, the step and the exported graphs never drop.
        rnn_options: further keyword arguments for ``tensorrnn.nn.build_classifier`` (the
            papers' options: ``gate_activation: hard_sigmoid``, ``forget_bias: 1.0``,
            ``recurrent_init: orthogonal``, ``num_layers``, ...), passed through unchanged; an
            unknown key, or one set by an argument above (``rank``, ``recurrent_dropout``, ...),
            is a ``ValueError``.
        frame_features: features per frame of the data (set from the data by the CLI); read
            by ``in_shape="auto"`` only.
        num_classes: number of classes (set from the data by the CLI).
        multilabel: sigmoid outputs and binary cross-entropy (Hollywood2) instead of softmax.
        class_names: names of the classes, kept in the checkpoint for ``predict``.
        frame_diff: feed the differences of consecutive sampled frames instead of the frames
            (TSN's RGB-difference input; T frames make T - 1 steps). What does not move (the
            scene, the look of an actor) cancels, so a small model cannot memorise the training
            groups by their looks; off for tasks where the look is the class (faces) and for
            per-frame CNN features.
        stabilize: with ``frame_diff``, cancel the camera's motion before differencing
            (:mod:`tensorrnn.nn.motion`): the previous frame is moved by the global shift
            estimated between the two frames, the border it does not cover is 0, and a pair
            that is a cut (a new scene, not a moving one) gives a zero difference. Part of the
            model, so ``predict``, the timeline, the exported graphs and :meth:`step` do it too.
            Frames only (not features); no gradient flows through the estimate.
        appearance: with ``frame_diff``, each step reads the frame beside its difference: the
            two stacked on the last axis (``(H, W, 3)`` frames give ``(H, W, 6)`` steps, C
            fastest), into the same factorised map, so the scene can be evidence and the look
            of what moves can tell the actor from a distractor. ``in_shape`` stays the
            factorisation of one frame; the map reads its last mode doubled (``[8, 20, 20,
            18]``: 6 pixels of 3 colours; the map: ``[8, 20, 20, 36]``, the same 6 pixels with
            their colours and differences).
        stem: a small learned stem between the normalised frames and the factorised map: a 4x4
            convolution of stride 2 and a ReLU (:class:`tensorrnn.nn.ConvStem`), ``C`` channels to
            ``4C``, so a step of ``(H, W, C)`` becomes ``(H/2, W/2, 4C)``: as many features, the
            same ``in_shape``, and about ``64 C^2`` weights (588 for differences, 2,328 with
            ``appearance``). It mixes only a pixel's 4x4 neighbourhood; the factorised map stays
            the only map across the frame. Its ReLU gives the map local, nonlinear evidence (what
            kind of texture moved) that a map linear in the pixels cannot form from their sum, so
            a second moving thing adds less to the actor's evidence. Frames only, even ``H`` and ``W``.
        stem_init: the stem's initialisation: ``"torch"``, ``Conv2d``'s default, or ``"he"``,
            He's for a ReLU, which hands the map inputs of unit mean square (docs/recipes.md
            measures both: He's wins on real handheld footage and loses on the generated sets
            with a distractor or a pan).
        stem_depth: the stem's levels (1; 2 adds a second 4x4 convolution of stride 2 and a ReLU,
            ``4C`` to ``16C`` channels at a quarter of the frame's height and width, the same
            features again, 9,264 more weights for differences, a step about 1.5x as long).
            ``H`` and ``W`` multiples of ``2**stem_depth``.
        context: add the logits of the scene's pooled look (:class:`tensorrnn.nn.SceneContext`)
            to the network's: a 4x4 convolution of stride 4 and a ReLU over each frame (3 to 16
            channels), averaged over the frame and the clip's frames (those the steps end on),
            standardised and read by a linear layer of its own (971 weights for 11 classes), so
            a scene that is evidence of the class counts, at a capacity too small to learn the
            training groups' scenes pixel by pixel (as ``appearance`` does). Frames only; the step
            keeps the running sum of the looks in its state.
        readout: what the output layer reads of a recurrent model's top layer: ``"last"``, its
            state after the last step (the papers), or ``"mean"``, the mean of its states over
            the steps (:class:`tensorrnn.nn.SequenceClassifier`); the step graph keeps their
            running sum. The MLP pools by ``rnn_options.pooling`` instead.
        normalize: ``"auto"``: subtract a mean and divide by a std per channel, both estimated
            from up to 64 training clips at the start of ``fit`` and stored in the checkpoint
            (:class:`tensorrnn.nn.normalization.InputNormalization`), so training starts well
            conditioned whatever ``data.scaling``; ``"none"``: feed the scaled pixels as they
            are (the papers).
        lr: peak learning rate (> 0).
        weight_decay: decoupled / L2 weight decay on all parameters (the optimiser's).
        output_l2: L2 penalty ``output_l2 * sum(W_out ** 2)`` on the output layer only, added
            to the loss (the papers' Keras ``l2(1e-2)`` on the classifier).
        optimizer: ``"adam" | "adamw" | "sgd" | "rmsprop"``.
        scheduler: ``"none" | "cosine" | "step" | "plateau"``; ``"cosine"`` decays to 0 over
            ``trainer.max_epochs`` (or ``max_steps``), or over ``trainer.max_time`` if that
            ends the fit first, updated every step.
        scheduler_step: epochs per step for ``"step"`` (decay 0.1), patience for ``"plateau"``.
        warmup_epochs: linear warm-up of the learning rate from 0 over this many epochs
            (updated every step; any scheduler).
        label_smoothing: cross-entropy label smoothing (single-label data).
        grad_clip: clip the gradients' global norm to this value (0: off); a
            ``trainer.gradient_clip_val`` takes precedence.

    Shape:
        - Input: ``(B, T, H, W, 3)`` frames or ``(B, T, F)`` features.
        - Output: logits ``(B, num_classes)``.

    Examples:
        >>> model = VideoClassifier("gru", "tt", [4, 8, 8, 9], [2, 2, 2, 2], rank=2, num_classes=3)
        >>> model(torch.randn(2, 6, 24, 32, 3)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        arch: str = "gru",
        factorization: str = "tt",
        in_shape: list[int] | str = (8, 20, 20, 18),
        hidden_shape: list[int] = (4, 4, 4, 4),
        rank: int | list[int] | None = 4,
        blocks: int = 1,
        shared_gates: bool = True,
        recurrent_factorization: str = "dense",
        recurrent_shape: list[int] | list[list[int]] | None = None,
        recurrent_rank: int | list[int] | None = None,
        dropout: float = 0.25,
        recurrent_dropout: float = 0.0,
        input_dropout: float = 0.1,
        feature_dropout: float = 0.0,
        rnn_options: dict[str, Any] | None = None,
        num_classes: int = 11,
        multilabel: bool = False,
        class_names: list[str] | None = None,
        frame_diff: bool = True,
        stabilize: bool = False,
        appearance: bool = False,
        readout: str = "last",
        stem: bool = False,
        stem_init: str = "torch",
        stem_depth: int = 1,
        context: bool = False,
        normalize: str = "auto",
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        output_l2: float = 0.0,
        optimizer: str = "adamw",
        scheduler: str = "cosine",
        scheduler_step: int = 10,
        warmup_epochs: float = 1.0,
        label_smoothing: float = 0.1,
        grad_clip: float = 1.0,
        frame_features: int | None = None,
    ) -> None:
        super().__init__()
        _choice("model.arch", arch, ARCHS)
        _choice("model.factorization", factorization, FACTORIZATIONS)
        _choice("model.recurrent_factorization", recurrent_factorization, FACTORIZATIONS)
        if arch == "mlp" and (recurrent_factorization != "dense" or recurrent_shape is not None
                              or recurrent_rank is not None):
            raise ValueError(f"model.recurrent_factorization={recurrent_factorization!r} (or recurrent_shape / "
                             f"recurrent_rank) with model.arch='mlp': the MLP has no recurrent map; expected "
                             f"'dense' and no recurrent_shape / recurrent_rank")
        _choice("model.optimizer", optimizer, tuple(OPTIMIZERS))
        _choice("model.scheduler", scheduler, SCHEDULERS)
        _choice("model.normalize", normalize, NORMALIZATIONS)
        if stabilize not in (True, False):
            raise ValueError(f"model.stabilize={stabilize!r}: expected true or false")
        if stabilize and not frame_diff:
            raise ValueError("model.stabilize=True with model.frame_diff=False: stabilising cancels the camera's "
                             "motion between the frames that are differenced; expected frame_diff: true")
        from tensorrnn.nn.classifier import READOUTS

        _choice("model.readout", readout, READOUTS)
        if arch == "mlp" and readout != "last":
            raise ValueError(f"model.readout={readout!r} with model.arch='mlp': the TT-MLP pools its per-frame "
                             "features (rnn_options.pooling: mean or max); expected readout: last")
        if stem not in (True, False):
            raise ValueError(f"model.stem={stem!r}: expected true or false")
        _choice("model.stem_init", stem_init, STEM_INITS)
        if stem_init != "torch" and not stem:
            raise ValueError(f"model.stem_init={stem_init!r} with model.stem=False: there is no stem to "
                             "initialise; expected stem: true")
        if isinstance(stem_depth, bool) or not isinstance(stem_depth, int) or not 1 <= stem_depth <= MAX_DEPTH:
            raise ValueError(f"model.stem_depth={stem_depth!r}: expected an integer from 1 to {MAX_DEPTH}")
        if stem_depth != 1 and not stem:
            raise ValueError(f"model.stem_depth={stem_depth!r} with model.stem=False: there is no stem to deepen; "
                             "expected stem: true")
        if appearance not in (True, False):
            raise ValueError(f"model.appearance={appearance!r}: expected true or false")
        if context not in (True, False):
            raise ValueError(f"model.context={context!r}: expected true or false")
        if appearance and not frame_diff:
            raise ValueError("model.appearance=True with model.frame_diff=False: appearance adds the frame to its "
                             "difference, and without frame_diff the frames are already the input; expected "
                             "frame_diff: true")
        hidden_shape = _shape("model.hidden_shape", hidden_shape)
        if in_shape == "auto":
            if not isinstance(frame_features, int) or frame_features < 1:
                raise ValueError(f"model.in_shape='auto' with model.frame_features={frame_features!r}: expected the "
                                 "frame's features (tensorrnn fit sets them from the data) or an explicit in_shape")
            try:
                in_shape = auto_in_shape(frame_features, len(hidden_shape))
            except ValueError:
                raise ValueError(f"model.in_shape='auto': {frame_features} features per frame cannot be split into "
                                 f"{len(hidden_shape)} modes (as many as model.hidden_shape); expected an explicit "
                                 f"model.in_shape, {fitting_in_shape(frame_features, len(hidden_shape))}") from None
        elif isinstance(in_shape, str):
            raise ValueError(f"model.in_shape={in_shape!r}: expected a list of positive integers or 'auto'")
        in_shape = _shape("model.in_shape", in_shape)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"model.num_classes={num_classes!r}: expected an integer >= 2")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"model.class_names has {len(class_names)} names: expected num_classes={num_classes}")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"model.lr={lr!r}: expected a finite number > 0")
        for name, value in (("weight_decay", weight_decay), ("output_l2", output_l2), ("warmup_epochs", warmup_epochs),
                            ("grad_clip", grad_clip)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"model.{name}={value!r}: expected a finite number >= 0")
        for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout),
                            ("input_dropout", input_dropout), ("feature_dropout", feature_dropout),
                            ("label_smoothing", label_smoothing)):
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise ValueError(f"model.{name}={value!r}: expected a probability in [0, 1)")
        # Plain lists, never tuples or numpy ints: the checkpoint must load with weights_only=True.
        rank = list(rank) if isinstance(rank, (list, tuple)) else rank
        recurrent_rank = list(recurrent_rank) if isinstance(recurrent_rank, (list, tuple)) else recurrent_rank
        if isinstance(recurrent_shape, (list, tuple)):
            recurrent_shape = [list(s) if isinstance(s, (list, tuple)) else s for s in recurrent_shape]
        rnn_options = dict(rnn_options or {})
        _check_rnn_options(arch, rnn_options)
        class_names = list(class_names) if class_names else None
        # Under LightningCLI, hparams are the parsed config (for load_from_checkpoint), not
        # these normalised values: build from the locals.
        self.save_hyperparameters()
        self.in_shape, self.hidden_shape = tuple(in_shape), tuple(hidden_shape)
        kwargs = dict(rnn_options)
        if arch != "mlp":
            kwargs.update(shared_gates=shared_gates, recurrent_dropout=recurrent_dropout, input_dropout=input_dropout,
                          recurrent_factorization=recurrent_factorization, recurrent_shape=recurrent_shape,
                          recurrent_rank=recurrent_rank)
        from tensorrnn.nn.normalization import InputNormalization

        self.input_norm = InputNormalization()
        self.feature_dropout = nn.Dropout(feature_dropout)
        self.stem = ConvStem(6 if appearance else 3, init=stem_init, depth=stem_depth) if stem else None
        if readout != "last":
            kwargs["readout"] = readout
        self.scene_context = SceneContext(num_classes) if context else None
        self.net = self._build_net(arch, factorization, rank, blocks, num_classes, multilabel, dropout, kwargs)
        self._make_metrics()
        #: Per-class results of the last evaluation, by stage (plain Python, for metrics.json).
        self.results: dict[str, dict[str, Any]] = {}

    def _build_net(self, arch, factorization, rank, blocks, num_classes, multilabel, dropout, kwargs) -> nn.Module:
        from tensorrnn.nn import build_classifier

        return build_classifier(arch, self.step_shape, self.hidden_shape, num_classes, factorization=factorization,
                                rank=rank, blocks=blocks, multilabel=multilabel, head_dropout=dropout, **kwargs)

    def _make_metrics(self) -> None:
        c = self.hparams.num_classes
        per_stage = {}
        for stage in EVAL_STAGES:
            if self.hparams.multilabel:
                metrics = {"map": tmc.MultilabelAveragePrecision(c, average="macro"),
                           "map_1view": tmc.MultilabelAveragePrecision(c, average="macro"),
                           "ap_per_class": tmc.MultilabelAveragePrecision(c, average="none")}
            else:
                metrics = {"acc": tmc.MulticlassAccuracy(c, average="micro"),
                           "acc_1view": tmc.MulticlassAccuracy(c, average="micro"),
                           "acc_per_class": tmc.MulticlassAccuracy(c, average="none"),
                           "confusion": tmc.MulticlassConfusionMatrix(c)}
                if c > 5:
                    metrics["acc_top5"] = tmc.MulticlassAccuracy(c, top_k=5, average="micro")
            per_stage[stage] = nn.ModuleDict(metrics)
        self.eval_metrics = nn.ModuleDict(per_stage)
        self.train_acc = (tmc.MultilabelAccuracy(c) if self.hparams.multilabel
                          else tmc.MulticlassAccuracy(c, average="micro"))

    @property
    def in_features(self) -> int:
        """Features per frame the model takes (product of ``in_shape``; with ``appearance`` the
        network reads twice as many per step: :attr:`step_shape`)."""
        return math.prod(self.in_shape)

    @property
    def step_shape(self) -> tuple[int, ...]:
        """The factorisation of what the network reads per step: ``in_shape``, with
        ``appearance`` its last mode doubled (a frame beside its difference)."""
        if not self.hparams.appearance:
            return self.in_shape
        return (*self.in_shape[:-1], 2 * self.in_shape[-1])

    def extra_repr(self) -> str:
        hp = self.hparams
        return (f"arch={hp.arch!r}, factorization={hp.factorization!r}, in_shape={self.in_shape}, "
                f"hidden_shape={self.hidden_shape}, rank={hp.rank}, num_classes={hp.num_classes}"
                + (", multilabel=True" if hp.multilabel else ""))

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """The sequence the network reads: the clip ``(B, T, ...)``, or with ``frame_diff`` the
        differences of consecutive frames ``(B, T - 1, ...)``."""
        if not self.hparams.frame_diff:
            return x
        if x.dim() < 3 or x.shape[1] < 2:
            raise ValueError(f"input of shape {tuple(x.shape)}: model.frame_diff needs clips of at least 2 frames "
                             "(batch, time >= 2, *frame)")
        if not self.hparams.stabilize:
            diff = x[:, 1:] - x[:, :-1]
        else:
            from tensorrnn.nn.motion import stabilized_differences

            self._check_frames(x[0])
            diff = stabilized_differences(x)                             # (B, T - 1, H, W, 3)
        return self._with_appearance(x[:, 1:], diff)

    def _with_appearance(self, frames: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
        """With ``appearance``: the frames beside their differences on the last axis."""
        if not self.hparams.appearance:
            return diff
        return torch.cat([frames.to(diff.dtype), diff], -1)            # (..., 2C)

    @staticmethod
    def _check_frames(frames: torch.Tensor) -> None:
        if frames.dim() != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames of shape {tuple(frames.shape[1:])}: model.stabilize needs video frames "
                             "(H, W, 3), not feature vectors; expected model.stabilize: false for features")

    def encode(self, steps: torch.Tensor) -> torch.Tensor:
        """What the network reads of :meth:`steps` ``(..., *frame)``: normalised and, with
        ``stem``, through the stem (``(..., H, W, C)`` -> ``(..., H/2, W/2, 4C)``)."""
        x = self.input_norm(steps)
        if self.stem is not None:
            if x.dim() < 4 or x.shape[-1] != self.stem.in_channels:
                raise ValueError(f"steps of shape {tuple(x.shape)}: model.stem needs video frames (..., H, W, "
                                 f"{self.stem.in_channels}), not feature vectors; expected model.stem: false for "
                                 "features")
            x = self.stem(x, grad_in_place=True)  # the map hands back a gradient of its own
        return x

    def _looks(self, frames: torch.Tensor) -> torch.Tensor:
        """With ``context``: the looks of frames ``(..., H, W, 3)`` (:meth:`SceneContext.pool`)."""
        if frames.dim() < 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames of shape {tuple(frames.shape)}: model.context reads video frames (..., H, W, 3), "
                             "not feature vectors; expected model.context: false for features")
        return self.scene_context.pool(frames)

    def add_scene(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``logits`` of clips ``x`` ``(B, T, ...)``, plus with ``context`` those of the mean look of
        the frames the steps end on (:meth:`forward`; the exported clip graph calls it too)."""
        if self.scene_context is None:
            return logits
        looks = self._looks(x[:, 1:] if self.hparams.frame_diff else x)             # (B, T', 16)
        return logits + self.scene_context.logits(looks.mean(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add_scene(self.net(self.feature_dropout(self.encode(self.steps(x)))), x)  # (B, T, ...) -> (B, C)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.hparams.multilabel else logits.softmax(-1)

    def forward_views(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities of ``K`` views per clip ``(B, K, T, ...)``: their mean ``(B, C)``
        (the multi-view prediction) and each view's ``(B, K, C)``."""
        B, K = views.shape[:2]
        probs = self.probabilities(self(views.flatten(0, 1))).view(B, K, -1)   # (B, K, C)
        return probs.mean(1), probs

    # --- online use: one frame at a time ---------------------------------------------------------

    def init_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """The state before the first frame of ``batch_size`` streams.

        The network's recurrent state (:meth:`SequenceClassifier.init_state`: ``(h,)`` or
        ``(h, c)``), preceded with ``frame_diff`` by the previous frame ``(B, in_features)``
        (flattened) and ``seen`` ``(B,)``: 1 once a stream has had a frame (its first frame only
        sets the previous frame: ``T`` frames make ``T - 1`` steps), and followed with ``context``
        by the sum of the looks of the frames stepped on ``(1, B, 16)`` and their count ``(1, B, 1)``. A
        ``ValueError`` for the TT-MLP and bidirectional networks, which have no per-frame step.
        """
        if self.hparams.arch == "mlp":
            raise ValueError("model.arch='mlp': the TT-MLP pools over the whole clip; the per-frame step needs "
                             "a recurrent model (rnn, gru or lstm)")
        state = self.net.init_state(batch_size)
        ref = state[0]
        if self.scene_context is not None:
            # (1, B, ...) as the network's states: the exported step graph's batch is their dim 1
            state += (ref.new_zeros(1, batch_size, self.scene_context.head.in_features), ref.new_zeros(1, batch_size, 1))
        if not self.hparams.frame_diff:
            return state
        return (ref.new_zeros(batch_size, self.in_features), ref.new_zeros(batch_size), *state)

    def step(self, frame: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One frame of a stream: ``probs, state = model.step(frame, state)``.

        ``frame`` is one time step of what :meth:`forward` takes (scaled pixels ``(B, H, W, 3)``,
        or features ``(B, F)``); frame differences and input normalisation are applied here as
        in :meth:`forward`. After frames ``x[:, 0..t]`` the probabilities are those of
        ``forward(x[:, :t + 1])`` (softmax, or sigmoid for multi-label models); with
        ``frame_diff`` the first frame gives the probabilities of the initial state, since a
        clip of one frame has no difference. Memory does not grow with the stream.

        Examples:
            >>> model = VideoClassifier("gru", "tt", [8, 12, 24], [2, 2, 2], rank=2, num_classes=3).eval()
            >>> state = model.init_state(2)
            >>> for frame in torch.randn(6, 2, 24, 32, 3):
            ...     probs, state = model.step(frame, state)
            >>> probs.shape
            torch.Size([2, 3])
        """
        net = self.net
        looks = ()
        if self.scene_context is not None:
            looks, state = tuple(state[-2:]), tuple(state[:-2])
        if not self.hparams.frame_diff:
            state = net.advance(self.encode(frame), state)
            looks = self._look_on(frame, looks, None)
            return self._readout(state, looks), (*state, *looks)
        previous, seen, rnn_state = state[0], state[1], tuple(state[2:])
        B = frame.shape[0]
        if self.hparams.stabilize:
            from tensorrnn.nn.motion import stabilized_difference

            self._check_frames(frame)
            diff = stabilized_difference(previous.view(frame.shape).to(frame.dtype), frame)   # (B, H, W, 3)
        else:
            diff = frame - previous.view(frame.shape)             # (B, *frame)
        stepped = net.advance(self.encode(self._with_appearance(frame, diff)), rnn_state)   # each (L, B, H)
        # branch-free (exportable): a stream's first frame keeps the initial state
        started = seen.view(1, B, 1) > 0
        rnn_state = tuple(torch.where(started, new, old) for new, old in zip(stepped, rnn_state))
        looks = self._look_on(frame, looks, seen.view(B, 1) > 0)
        previous = frame.reshape(B, -1).to(previous.dtype)
        return self._readout(rnn_state, looks), (previous, torch.ones_like(seen), *rnn_state, *looks)

    def _look_on(self, frame: torch.Tensor, looks: tuple[torch.Tensor, ...],
                 started: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """With ``context``: the running sum and count of looks ``looks`` ``(1, B, ...)`` after
        ``frame``, which counts where ``started`` ``(B, 1)`` (a stream's first frame ends no step),
        or everywhere where it is None."""
        if not looks:
            return looks
        total, count = looks
        look = self._looks(frame).to(total.dtype).unsqueeze(0)                   # (1, B, 16)
        if started is None:
            return total + look, count + 1
        return total + torch.where(started, look, torch.zeros_like(look)), count + started.to(count.dtype)

    def _readout(self, rnn_state: tuple[torch.Tensor, ...], looks: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Class probabilities of a state: the network's logits, plus with ``context`` those of
        the mean look so far (none before the first step)."""
        if not looks:
            return self.net.readout(rnn_state)
        total, count = looks[0][0], looks[1][0]                                    # (B, 16), (B, 1)
        scene = self.scene_context.logits(total / count.clamp(min=1))
        logits = self.net.logits(rnn_state) + torch.where(count > 0, scene, torch.zeros_like(scene))
        return self.probabilities(logits)

    # --- input normalisation ------------------------------------------------------------------

    def fit_input_normalization(self, batches) -> None:
        """Estimate the input statistics from ``batches`` (``(x, ...)`` tuples or tensors); in a
        distributed run the sums are added over the ranks, so every rank gets the same values."""
        norm = self.input_norm
        norm.reset()
        for batch in batches:
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            norm.update(self.steps(x))
        sums = norm.pending()
        if sums is None:
            raise ValueError("model.normalize='auto': no training clips to estimate the input statistics from")
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            sums = [trainer.strategy.reduce(t.to(self.device), reduce_op="sum").cpu() for t in sums]
        norm.finalize(sums)
        from lightning.pytorch.utilities import rank_zero_info

        mean, std = norm.mean.tolist(), norm.std.tolist()
        shown = (f"mean {[round(v, 3) for v in mean]}, std {[round(v, 3) for v in std]}" if len(mean) <= 4
                 else f"mean {sum(mean) / len(mean):.3g} (average of {len(mean)}), std {sum(std) / len(std):.3g}")
        rank_zero_info(f"input normalisation from {int(norm.count)} training clips: {shown}")

    def on_fit_start(self) -> None:
        if self.hparams.normalize != "auto" or self.input_norm.fitted:  # resumed: from the checkpoint
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "statistics_dataloader"):
            self.fit_input_normalization(datamodule.statistics_dataloader(STATISTICS_CLIPS))

    def on_train_start(self) -> None:
        # Without a data module that offers a statistics loader: the first training batches.
        if self.hparams.normalize != "auto" or self.input_norm.fitted:
            return
        loader, batches, clips = self.trainer.train_dataloader, [], 0
        for batch in loader:
            batches.append(batch[0] if isinstance(batch, (list, tuple)) else batch)
            clips += len(batches[-1])
            if clips >= STATISTICS_CLIPS:
                break
        self.fit_input_normalization(batches)

    def output_layer(self) -> nn.Linear:
        """The classifier's output layer (the one the papers put an L2 penalty on)."""
        head = getattr(self.net, "head", None)
        if isinstance(head, nn.Linear):
            return head
        linears = [m for m in self.net.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise RuntimeError("the classifier has no nn.Linear output layer for output_l2")
        return linears[-1]

    # --- loss and steps ---------------------------------------------------------------------

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.hparams.multilabel:
            return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
        return F.cross_entropy(logits, target, label_smoothing=self.hparams.label_smoothing)

    def _probability_loss(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The evaluation loss of (multi-view averaged) probabilities, without smoothing."""
        probs = probs.clamp(1e-7, 1 - 1e-7)
        if self.hparams.multilabel:
            return F.binary_cross_entropy(probs, target.to(probs.dtype))
        return F.nll_loss(probs.log(), target)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss(logits, y)
        if not torch.isfinite(loss):
            # Raise before the optimiser step: the weights (and any checkpoint written
            # later) stay those of the last finite step.
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at global step {self.global_step} (epoch {self.current_epoch}, "
                f"batch {batch_idx}); stopped without saving this state; lower model.lr or check the data")
        if self.hparams.output_l2:
            loss = loss + self.hparams.output_l2 * self.output_layer().weight.pow(2).sum()
        # update(), not forward(): only the epoch value is logged, so a per-batch compute is wasted
        self.train_acc.update(logits.detach(), self._metric_target(y))
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(x), sync_dist=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def _metric_target(self, y: torch.Tensor) -> torch.Tensor:
        # multi-hot targets arrive as floats (for BCE); torchmetrics wants integers
        return y.long() if self.hparams.multilabel else y

    def _eval_step(self, stage: str, batch) -> None:
        """A batch ``(x, y)`` of single clips, or ``(views, y, K)`` of K views per clip
        (``data.eval_views``): the metrics score the mean of the views' probabilities, and the
        ``*_1view`` metrics the middle view alone (the K = 1 evaluation)."""
        x, y = batch[0], batch[1]
        if len(batch) > 2:
            probs, per_view = self.forward_views(x)                       # (B, C), (B, K, C)
            single = per_view[:, per_view.shape[1] // 2]
        else:
            probs = single = self.probabilities(self(x))
        self.log(f"{stage}/loss", self._probability_loss(probs, y), prog_bar=True, batch_size=len(x), sync_dist=True)
        target = self._metric_target(y)
        for name, metric in self.eval_metrics[stage].items():
            metric.update((single if name.endswith("_1view") else probs).detach(), target)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step("test", batch)

    def _eval_epoch_end(self, stage: str) -> None:
        metrics = self.eval_metrics[stage]
        names = self.hparams.class_names or [str(i) for i in range(self.hparams.num_classes)]
        if self.hparams.multilabel:
            # compute() already gathers every rank; sync_dist only averages equal values.
            self.log(f"{stage}/map", metrics["map"].compute(), prog_bar=True, sync_dist=True)
            self.log(f"{stage}/map_1view", metrics["map_1view"].compute(), sync_dist=True)
            per_class = {"ap": dict(zip(names, metrics["ap_per_class"].compute().tolist()))}
        else:
            self.log(f"{stage}/acc", metrics["acc"].compute(), prog_bar=True, sync_dist=True)
            self.log(f"{stage}/acc_1view", metrics["acc_1view"].compute(), sync_dist=True)
            if "acc_top5" in metrics:
                self.log(f"{stage}/acc_top5", metrics["acc_top5"].compute(), sync_dist=True)
            per_class = {"accuracy": dict(zip(names, metrics["acc_per_class"].compute().tolist())),
                         "confusion": metrics["confusion"].compute().tolist()}
        self.results[stage] = {"classes": names, **per_class}
        for metric in metrics.values():
            metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def predict_step(self, batch, batch_idx: int = 0) -> torch.Tensor:
        """Class probabilities ``(B, C)``: of clips ``(B, T, ...)``, or the mean over the views of
        a ``(views (B, K, T, ...), y, K)`` batch."""
        if isinstance(batch, (list, tuple)):
            if len(batch) > 2:
                return self.forward_views(batch[0])[0]
            batch = batch[0]
        return self.probabilities(self(batch))

    # --- optimiser and checkpoints ----------------------------------------------------------

    def _steps(self) -> tuple[int, int | None]:
        """(optimiser steps per epoch, total steps or None when unbounded) of this fit."""
        trainer = self._trainer
        if trainer is None:
            return 1, None
        total, epochs = trainer.estimated_stepping_batches, trainer.max_epochs
        if math.isfinite(total) and epochs not in (None, -1):
            return max(1, int(total) // epochs), int(total)
        batches = trainer.num_training_batches  # a time or step limit: no total to decay over
        return (max(1, int(batches) // trainer.accumulate_grad_batches) if math.isfinite(batches) else 1), None

    def _time_used(self):
        """The share of ``trainer.max_time`` used so far, as a function, or None without a time limit.

        Lightning stops a fit at ``max_time`` whatever ``max_epochs`` says, so a schedule laid
        out over the epochs alone would be cut while the learning rate is still high."""
        trainer = self._trainer
        timer = next((c for c in (trainer.callbacks if trainer is not None else [])
                      if isinstance(c, Timer) and c.time_remaining() is not None), None)
        if timer is None:
            return None

        def used() -> float:
            elapsed = timer.time_elapsed()
            return elapsed / max(1e-9, elapsed + timer.time_remaining())

        return used

    def configure_optimizers(self):
        hp = self.hparams
        kwargs = {"lr": hp.lr, "weight_decay": hp.weight_decay}
        if hp.optimizer == "sgd":
            kwargs["momentum"] = 0.9
        optimizer = OPTIMIZERS[hp.optimizer](self.parameters(), **kwargs)
        if hp.scheduler == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=hp.scheduler_step)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}
        per_epoch, total = self._steps()
        warmup = int(round(hp.warmup_epochs * per_epoch))
        factor = _lr_factor(hp.scheduler, warmup, total, hp.scheduler_step * per_epoch, self._time_used())
        if factor is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        if gradient_clip_val is None and self.hparams.grad_clip:  # the trainer's setting wins
            gradient_clip_val, gradient_clip_algorithm = self.hparams.grad_clip, "norm"
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val,
                            gradient_clip_algorithm=gradient_clip_algorithm)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Never write a NaN state: a resumed run would start from garbage.
        bad = [name for name, p in self.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise NonFiniteLossError(
                f"parameters {', '.join(bad[:3])} are not finite at global step {self.global_step}; "
                "checkpoint not written (the last good one is kept)")
        # a model of per-frame features keeps how they were made: predict then takes videos
        record = getattr(getattr(self._trainer, "datamodule", None), "feature_record", None)
        if record is not None:
            checkpoint[FEATURE_RECORD] = dict(record)


def _lr_factor(scheduler: str, warmup: int, total: int | None, step_every: int,
               time_used: Callable[[], float] | None = None):
    """The learning-rate multiplier of optimiser step ``i`` (a LambdaLR function), or None for a
    constant rate: a linear warm-up over ``warmup`` steps, then ``"cosine"`` decay to 0 at
    ``total`` steps or when ``time_used()`` (the share of a time budget spent) reaches 1,
    whichever comes first (constant when the fit has neither), ``"step"`` x0.1 every
    ``step_every`` steps, or ``"none"`` constant."""
    if scheduler == "none" and warmup == 0:
        return None

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        if scheduler == "cosine" and (total is not None or time_used is not None):
            progress = 0.0 if total is None else (i - warmup) / max(1, total - warmup)
            if time_used is not None:
                progress = max(progress, time_used())
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if scheduler == "step":
            return 0.1 ** ((i - warmup) // max(1, step_every))
        return 1.0

    return factor
