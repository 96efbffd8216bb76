"""Graph limits: depth, width, diamonds, and memory that is given back."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor, data, nn, optim
from tinygrad_lr.function import Context


def chain(depth: int) -> tuple[Tensor, Tensor]:
    x = Tensor(1.0, requires_grad=True)
    out = x
    for _ in range(depth):
        out = out * 1.0001
    return x, out


@pytest.mark.slow
def test_backward_through_a_chain_of_a_million_ops() -> None:
    x, out = chain(1_000_000)
    out.backward()
    assert x.grad == pytest.approx(1.0001**1_000_000, rel=1e-9)
    del out  # freeing a million-node graph must not recurse either
    gc.collect()


def count_backward_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = Context.backward

    def counting(self: Context, grad_output: np.ndarray) -> list:
        calls[0] += 1
        return original(self, grad_output)

    monkeypatch.setattr(Context, "backward", counting)
    return calls


def test_a_chain_of_fifty_diamonds_runs_each_op_backward_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each level is a diamond: b = a * 2 and c = a * 3 both feed d = b + c, so a
    # per-path walk would visit 2**50 paths; the topological order visits 150 ops.
    x = Tensor(1.0, requires_grad=True)
    out = x
    for _ in range(50):
        out = (out * 0.5) + (out * 0.5)
    calls = count_backward_calls(monkeypatch)

    out.backward()

    assert calls[0] == 150
    assert x.grad == 1.0


def test_intermediate_tensors_are_freed_after_backward_and_del() -> None:
    w = Tensor(np.ones(3), requires_grad=True)
    hidden = (w * 2.0).tanh()
    loss = (hidden * hidden).sum()
    alive = weakref.ref(hidden)
    loss.backward()

    del hidden, loss
    gc.collect()

    assert alive() is None
    assert w.grad is not None


def test_two_hundred_training_steps_keep_memory_constant() -> None:
    moons = data.moons(n_train=200, n_test=10)
    model = nn.MLP([2, 8, 1], rng=0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    X, y = Tensor(moons.X_train), Tensor(moons.y_train)
    losses = []

    def step() -> None:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))

    for _ in range(20):  # warm up caches and optimizer state
        step()
    tracemalloc.start()
    try:
        step()
        # NOTE: a full collection also empties CPython's free lists, which
        # otherwise hold some 90 kB of recycled tuples between measurements.
        gc.collect()
        after_one = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            step()
        gc.collect()
        after_many = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    # A leak of even one 200-element float64 array per step would add 320 kB.
    assert after_many - after_one < 16_000
    assert len(losses) == 221
