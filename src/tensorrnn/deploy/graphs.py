"""The deployed graphs: a trained classifier from uint8 frames to class probabilities.

Two modules wrap a :class:`~tensorrnn.train.module.VideoClassifier` for ``torch.export`` /
``torch.onnx.export(..., dynamo=True)``; neither changes the library's modules.

* :class:`ClipGraph`: a clip ``(B, T, H, W, 3)`` uint8 -> probabilities ``(B, C)``, with the
  pixel scaling of the data, the frame differences and the input normalisation the model was
  trained with, for any ``B`` and ``T``. The recurrence is a ``torch.scan`` (ONNX ``Scan``), not
  the library's Python loop over steps: a loop unrolls into a graph of one fixed length. The
  input maps run on all steps at once before it, as in the library (so they are top-level
  ``MatMul``\\ s that dynamic quantisation reaches); the scan's body is the library's own cell
  (``nn.rnn.gru_scan`` / ``lstm_scan`` / ``rnn_scan`` on one step).
* :class:`StepGraph`: one frame ``(B, H, W, 3)`` uint8 and the state -> probabilities and the
  new state: :meth:`VideoClassifier.step` behind the same pixel scaling, for a device that
  reads a stream one frame at a time in constant memory.

For a model of per-frame CNN features both take a ``frontend`` instead of the scaling: the
backbone its features came from (:class:`~tensorrnn.data.features.FrameFeatures`), so the graph
holds both and still reads uint8 frames.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from tensorrnn.data.sampling import scale_frames
from tensorrnn.nn import rnn as rnn_cells
from tensorrnn.nn.rnn import TensorizedRNNBase

__all__ = ["ClipGraph", "StepGraph", "scale_frames", "state_names", "exportable"]


def state_names(model) -> list[str]:
    """Names of the step graph's state tensors, in :meth:`VideoClassifier.init_state`'s order."""
    names = ["previous_frame", "seen"] if model.hparams.frame_diff else []
    names += ["h", "c"] if model.hparams.arch == "lstm" else ["h"]
    names += ["h_sum", "steps"] if model.hparams.get("readout", "last") == "mean" else []
    return names + (["look_sum", "looks"] if model.hparams.get("context", False) else [])


#: Batch rows the contraction planners plan for while a graph is traced (its batch is symbolic).
TRACE_BATCH = 8
#: Largest batch and number of frames the graphs are exported for (a bound the tracer can use
#: to prove that a block-term sweep is one chunk for every size).
MAX_SIZE = 1 << 20


@contextmanager
def _plans_for_tracing() -> Iterator[None]:
    """Let the factorised layers trace with a symbolic batch.

    Their planners (``tensor.plan.plan_chain`` / ``plan_bt``) pick a contraction order for
    the number of rows and cache it by that number, and the block-term sweep walks the batch
    in chunks: neither can take a symbolic size. While tracing, the planners get
    :data:`TRACE_BATCH` rows (the order changes the cost, never the result) and a block-term
    plan one chunk of any size (the graphs' dimensions are bounded by :data:`MAX_SIZE`), so the graph is one contraction for every batch.
    """
    import dataclasses
    import sys

    from tensorrnn.tensor import plan

    chain, bt = plan.plan_chain, plan.plan_bt

    def traced(batch) -> bool:
        return isinstance(batch, torch.SymInt)

    def plan_chain(ms, ns, ranks, batch):
        return chain(ms, ns, ranks, TRACE_BATCH if traced(batch) else batch)

    def plan_bt(ms, ns, ranks, batch):
        if not traced(batch):
            return bt(ms, ns, ranks, batch)
        return dataclasses.replace(bt(ms, ns, ranks, TRACE_BATCH), chunk=sys.maxsize)   # one chunk

    plan.plan_chain, plan.plan_bt = plan_chain, plan_bt
    try:
        yield
    finally:
        plan.plan_chain, plan.plan_bt = chain, bt


@contextmanager
def exportable(model: nn.Module) -> Iterator[nn.Module]:
    """The model as the exporter needs it: eval mode, no gradients, the RNNs' finiteness
    check (a data-dependent ``if`` on every call) off and the contraction planners fixed
    (:func:`_plans_for_tracing`); all restored afterwards."""
    rnns = [m for m in model.modules() if isinstance(m, TensorizedRNNBase)]
    saved = ([m.check_finite for m in rnns], model.training, [p.requires_grad for p in model.parameters()])
    try:
        for m in rnns:
            m.check_finite = False
        model.eval().requires_grad_(False)
        with _plans_for_tracing():
            yield model
    finally:
        for m, flag in zip(rnns, saved[0]):
            m.check_finite = flag
        model.train(saved[1])
        for p, flag in zip(model.parameters(), saved[2]):
            p.requires_grad_(flag)


class ClipGraph(nn.Module):
    """A trained classifier as one function of uint8 clips.

    Args:
        model: a recurrent :class:`~tensorrnn.train.module.VideoClassifier`.
        scaling: the pixel scaling of its data (``data.scaling`` in the checkpoint).
        frontend: for a model of per-frame features, uint8 frames ``(..., H, W, 3)`` -> its
            features ``(..., F)`` (the scaling is then unused).

    Shape:
        - frames: uint8 ``(B, T, H, W, 3)``; ``T >= 2`` with ``frame_diff``, else ``T >= 1``.
        - output: class probabilities ``(B, num_classes)`` (softmax, or sigmoid if multi-label).
    """

    def __init__(self, model, scaling: str, frontend: nn.Module | None = None) -> None:
        super().__init__()
        rnn = getattr(model.net, "rnn", None)
        if not isinstance(rnn, TensorizedRNNBase):
            raise ValueError(f"model.arch={model.hparams.arch!r}: export needs a recurrent classifier "
                             "(rnn, gru or lstm)")
        self.model = model
        self.scaling = scaling
        self.frontend = frontend

    def forward(self, frames: Tensor) -> Tensor:
        model = self.model
        scaled = scale_frames(frames, self.scaling) if self.frontend is None else self.frontend(frames)
        x = model.encode(model.steps(scaled))                                     # (B, T', H, W, 3) or (B, T', F)
        B, T = x.shape[0], x.shape[1]
        x = x.reshape(B, T, -1)                                                   # (B, T', F)
        mean = getattr(model.net, "readout_mode", "last") == "mean"
        h_top = _recurrence(model.net.rnn, x, mean)                               # (B, D*H)
        return model.probabilities(model.add_scene(model.net.head(h_top), scaled))   # (B, C)


def _project(rnn: TensorizedRNNBase, index: int, x: Tensor) -> Tensor:
    proj = rnn.input_projs[index]
    if isinstance(proj, nn.ModuleList):                                           # one map per gate
        return torch.cat([gate(x) for gate in proj], dim=-1)
    return proj(x)


def _recurrence(rnn: TensorizedRNNBase, x: Tensor, mean: bool = False) -> Tensor:
    """The RNN's top-layer final state ``(B, D*H)`` of a batch-first sequence ``(B, T, F)``
    (``mean``: the mean of the top layer's states over the steps), with the recurrence as a scan over dim 1 (eval mode: no dropout). Everything stays
    batch-first and contiguous: a transposed input would make the factorised layers' reshapes
    depend on whether ``B`` or ``T`` is 1, which a graph for every size cannot."""
    from torch._higher_order_ops.scan import scan

    D = rnn.num_directions
    hard = rnn.gate_activation == "hard_sigmoid"
    layer_input = x                                                               # (B, T, F)
    for layer in range(rnn.num_layers):
        outs, finals = [], []
        for d in range(D):
            reverse = d == 1
            gi = _project(rnn, layer * D + d, layer_input)                        # (B, T, c*H)
            w_hh, b_hh = rnn.recurrent_weights(layer, reverse)
            h0 = gi.new_zeros(gi.shape[0], rnn.hidden_size)                       # (B, H)
            if rnn.mode == "gru":
                def cell(state, g, w_hh=w_hh, b_hh=b_hh):
                    _, h = rnn_cells.gru_scan(g.unsqueeze(0), state[0], w_hh, b_hh, None, None, hard,
                                              rnn.reset_after)
                    return [h], h.clone()
                init = [h0]
            elif rnn.mode == "lstm":
                gi = gi if b_hh is None else gi + b_hh
                def cell(state, g, w_hh=w_hh):
                    _, h, c = rnn_cells.lstm_scan(g.unsqueeze(0), state[0], state[1], w_hh, None, None, hard)
                    return [h, c], h.clone()
                init = [h0, torch.zeros_like(h0)]
            else:
                gi = gi if b_hh is None else gi + b_hh
                relu = rnn.nonlinearity == "relu"
                def cell(state, g, w_hh=w_hh, relu=relu):
                    _, h = rnn_cells.rnn_scan(g.unsqueeze(0), state[0], w_hh, None, None, relu)
                    return [h], h.clone()
                init = [h0]
            final, out = scan(cell, init, gi, dim=1, reverse=reverse)             # out: (B, T, H)
            outs.append(out)
            finals.append(final[0])
        layer_input = outs[0] if D == 1 else torch.cat(outs, dim=-1)              # (B, T, D*H)
    if mean:
        return layer_input.mean(1)                                                # (B, D*H)
    return finals[0] if D == 1 else torch.cat(finals, dim=-1)                     # (B, D*H)


class StepGraph(nn.Module):
    """One frame of a stream: ``probs, *state = graph(frame, *state)``.

    Args:
        model: a recurrent :class:`~tensorrnn.train.module.VideoClassifier`.
        scaling: the pixel scaling of its data.
        frontend: for a model of per-frame features, as :class:`ClipGraph`'s.

    Shape:
        - frame: uint8 ``(B, H, W, 3)``; state: the tensors of ``model.init_state(B)``
          (:func:`state_names`).
        - output: probabilities ``(B, num_classes)``, then the new state.
    """

    def __init__(self, model, scaling: str, frontend: nn.Module | None = None) -> None:
        super().__init__()
        model.init_state(1)   # a ValueError for the models without a per-frame step
        self.model = model
        self.scaling = scaling
        self.frontend = frontend

    def forward(self, frame: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        x = scale_frames(frame, self.scaling) if self.frontend is None else self.frontend(frame)
        probs, state = self.model.step(x, tuple(state))
        return (probs, *state)
