"""Random computation graphs, checked against float64 central differences.

A Hypothesis state machine creates leaves of broadcastable shapes, combines nodes
with random ops (the same node may be both arguments), adds constants, and at random
points calls backward on a random node. Every leaf gradient must then equal the
central differences of a plain-NumPy re-evaluation of the same expression, and
leaves that the node does not depend on must keep ``grad is None``.
"""

from __future__ import annotations

from collections.abc import Callable

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule
from scipy.special import expit, log_expit

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor

SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]
EPS = 1e-6

Leaves = list[np.ndarray]
Expression = Callable[[Leaves], np.ndarray]

# name: (tensor op, the same op in NumPy)
UNARY = {
    "neg": (lambda a: -a, lambda a: -a),
    "tanh": (lambda a: a.tanh(), np.tanh),
    "sigmoid": (F.sigmoid, expit),
    "log_sigmoid": (F.log_sigmoid, log_expit),
    "softplus": (F.softplus, lambda a: np.logaddexp(0.0, a)),
    "square": (lambda a: a**2, lambda a: a**2),
    "exp_of_tanh": (lambda a: a.tanh().exp(), lambda a: np.exp(np.tanh(a))),
    "sum": (lambda a: a.sum(), np.sum),
    "sum_axis_last": (
        lambda a: a.sum(axis=-1, keepdims=True) if a.ndim else a,
        lambda a: a.sum(axis=-1, keepdims=True) if a.ndim else a,
    ),
    "mean": (lambda a: a.mean(), np.mean),
    "transpose": (lambda a: a.T, lambda a: a.T),
}
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    # a / (1 + b²) keeps the denominator away from zero.
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
}


class Node:
    """A tensor of the graph, the expression that recomputes it, and its leaves."""

    def __init__(
        self, tensor: Tensor, expression: Expression, leaves: frozenset
    ) -> None:
        self.tensor = tensor
        self.expression = expression
        self.leaves = leaves


def bounded(node: Node, fallback: Node) -> Node:
    """Keep values moderate, so that central differences stay accurate."""
    return node if np.max(np.abs(node.tensor.data), initial=0.0) <= 50.0 else fallback


def values(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=st.floats(-2.0, 2.0, width=64))


class GraphMachine(RuleBasedStateMachine):
    nodes = Bundle("nodes")

    def __init__(self) -> None:
        super().__init__()
        self.leaf_tensors: list[Tensor] = []

    def _leaf(self, data: np.ndarray) -> Node:
        index = len(self.leaf_tensors)
        tensor = Tensor(data, requires_grad=True)
        self.leaf_tensors.append(tensor)
        return Node(tensor, lambda leaves: leaves[index], frozenset([index]))

    @initialize(target=nodes, data=st.sampled_from(SHAPES).flatmap(values))
    def first_leaf(self, data: np.ndarray) -> Node:
        return self._leaf(data)

    @rule(target=nodes, data=st.sampled_from(SHAPES).flatmap(values))
    def leaf(self, data: np.ndarray) -> Node:
        return self._leaf(data)

    @rule(target=nodes, node=nodes, name=st.sampled_from(sorted(UNARY)))
    def unary(self, node: Node, name: str) -> Node:
        op, reference = UNARY[name]
        inner = node.expression
        out = Node(
            op(node.tensor), lambda leaves: reference(inner(leaves)), node.leaves
        )
        return bounded(out, node)

    @rule(
        target=nodes,
        a=nodes,
        b=nodes,
        name=st.sampled_from(sorted(BINARY)),
        same=st.booleans(),
    )
    def binary(self, a: Node, b: Node, name: str, same: bool) -> Node:
        if same:
            b = a  # reuse: the same tensor as both arguments
        try:
            np.broadcast_shapes(a.tensor.shape, b.tensor.shape)
        except ValueError:
            return a
        op, reference = BINARY[name]
        left, right = a.expression, b.expression
        out = Node(
            op(a.tensor, b.tensor),
            lambda leaves: reference(left(leaves), right(leaves)),
            a.leaves | b.leaves,
        )
        return bounded(out, a)

    @rule(
        target=nodes, node=nodes, constant=st.floats(-3.0, 3.0), reflected=st.booleans()
    )
    def with_constant(self, node: Node, constant: float, reflected: bool) -> Node:
        inner = node.expression
        if reflected:
            out = Node(
                constant - node.tensor, lambda v: constant - inner(v), node.leaves
            )
        else:
            out = Node(
                node.tensor * constant, lambda v: inner(v) * constant, node.leaves
            )
        return bounded(out, node)

    @rule(node=nodes, seed=st.integers(0, 2**16))
    def backward_matches_central_differences(self, node: Node, seed: int) -> None:
        for tensor in self.leaf_tensors:
            tensor.grad = None
        u = np.random.default_rng(seed).standard_normal(node.tensor.shape)
        node.tensor.backward(u)

        points = [tensor.data for tensor in self.leaf_tensors]
        for index, tensor in enumerate(self.leaf_tensors):
            if index not in node.leaves:
                assert tensor.grad is None, f"leaf {index} is not used but got a grad"
                continue
            numeric = np.zeros_like(tensor.data)
            for element in np.ndindex(tensor.shape):
                shifted = [p.copy() for p in points]
                shifted[index][element] += EPS
                plus = np.sum(u * node.expression(shifted))
                shifted[index][element] -= 2 * EPS
                minus = np.sum(u * node.expression(shifted))
                numeric[element] = (plus - minus) / (2 * EPS)
            assert tensor.grad is not None
            assert tensor.grad.shape == tensor.shape
            scale = max(float(np.max(np.abs(numeric), initial=0.0)), 1.0)
            error = float(np.max(np.abs(tensor.grad - numeric), initial=0.0))
            assert error <= 1e-6 * scale, (index, tensor.grad, numeric)

    @rule(node=nodes)
    def backward_twice_doubles_the_leaf_gradients(self, node: Node) -> None:
        for tensor in self.leaf_tensors:
            tensor.grad = None
        u = np.ones(node.tensor.shape)
        node.tensor.backward(u)
        once = [None if t.grad is None else t.grad.copy() for t in self.leaf_tensors]
        node.tensor.backward(u)
        for first, tensor in zip(once, self.leaf_tensors, strict=True):
            if first is None:
                assert tensor.grad is None
            else:
                np.testing.assert_array_equal(tensor.grad, 2 * first)


GraphMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=12, deadline=None
)
TestRandomGraphs = GraphMachine.TestCase
