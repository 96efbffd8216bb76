"""Check an autograd gradient against float64 central differences, and say why not.

The output of ``fn`` is projected on a fixed random direction u, so one backward
pass gives the analytic ``uᵀJ`` for every input element; central differences of
``u · fn(x)`` give the numeric one. They must agree normwise:
``max|g - g_fd| <= tolerance · max(max|g_fd|, 1)`` for each input.

When they do not, the error lists the worst elements of each input and then checks
every op of the graph on its own: the op's backward against central differences of
the op's own forward, at the values it saw. The first op that disagrees is named.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_lr.function import Context
from tinygrad_lr.tensor import DTypeError, Tensor, no_grad

__all__ = ["GradcheckError", "gradcheck"]

logger = logging.getLogger(__name__)

FULL_JACOBIAN_SIZE = 64
"""Inputs of an op with at most this many elements are checked element by element
when ops are checked one by one; larger ones along a random direction."""


class GradcheckError(AssertionError):
    """The analytic and the numeric gradient disagree; the message has the worst
    elements and the op that is wrong."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    mode: str = "full",
    rng: Any = 0,
    n_report: int = 5,
    raise_exception: bool = True,
    locate: bool = True,
) -> bool:
    """Compare the gradient of ``fn`` at ``inputs`` with central differences.

    Parameters
    ----------
    fn : callable
        Takes one Tensor per input and returns a Tensor of any shape.
    inputs : sequence of Tensor or array-like
        The point to check at; float64 (float32 central differences are too
        coarse to check anything). They are copied, never changed, and may be
        non-contiguous.
    eps : float, default 1e-6
        Step of the central differences.
    tolerance : float, default 1e-6
        Allowed normwise error, relative to ``max(max|g_fd|, 1)``. The floor of 1
        keeps rounding noise from failing a correct gradient near zero, but it
        also means that gradients far below 1 are compared absolutely: scale
        ``fn`` so that its gradients are of order 1 to check them closely.
    mode : {"full", "random"}, default "full"
        "full" differentiates every input element (2 calls of ``fn`` each);
        "random" checks one random direction per input (2 calls in all), for large
        inputs.
    rng : int or Generator, default 0
        Seed of the random projections.
    n_report : int, default 5
        How many of the worst elements of each input the failure message lists.
    raise_exception : bool, default True
        Raise :class:`GradcheckError` on a mismatch; otherwise return False.
    locate : bool, default True
        On a mismatch, check each op of the graph on its own, with the parameters
        it was called with (``sum(axis=0)``, ``x ** 3``), and name the ones whose
        backward disagrees with their forward. Ops whose inputs are not float64,
        or that raise when run again on their own, are listed as not checked.

    Returns
    -------
    bool
        True when the gradients agree.

    Raises
    ------
    DTypeError
        If an input is not float64.
    GradcheckError
        On a mismatch, when ``raise_exception`` is True.

    Examples
    --------
    >>> gradcheck(lambda x: (x * x).sum(), [np.array([1.0, -2.0, 3.0])])
    True
    """
    if mode not in ("full", "random"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'random', got {mode!r}")
    points = [np.array(x.data if isinstance(x, Tensor) else x) for x in inputs]
    for index, point in enumerate(points):
        if point.dtype != np.float64:
            raise DTypeError(
                f"gradcheck: input {index} has dtype {point.dtype}; central differences"
                " need float64 (convert with .astype(np.float64))"
            )
    generator = np.random.default_rng(rng)

    leaves = [Tensor(point.copy(), requires_grad=True) for point in points]
    out = fn(*leaves)
    u = np.ones(out.shape) if out.size == 1 else generator.standard_normal(out.shape)
    out.backward(u)
    analytic = [
        leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data)
        for leaf in leaves
    ]
    op = out.grad_fn.function.name if out.grad_fn is not None else "a leaf"

    def projected(arrays: list[np.ndarray]) -> float:
        with no_grad():
            return float(np.sum(u * fn(*[Tensor(a) for a in arrays]).data))

    if mode == "random":
        failures = _check_random_direction(
            projected, points, analytic, eps, tolerance, generator
        )
    else:
        failures = _check_every_element(
            projected, points, analytic, eps, tolerance, n_report
        )
    if not failures:
        return True

    message = (
        f"gradcheck: the gradient of the output of {op} disagrees with central"
        " differences\n" + "\n".join(failures)
    )
    if locate:
        message += "\n" + _locate(out, eps, tolerance, generator)
    logger.debug("%s", message)
    if raise_exception:
        raise GradcheckError(message)
    return False


def _check_random_direction(
    projected: Callable[[list[np.ndarray]], float],
    points: list[np.ndarray],
    analytic: list[np.ndarray],
    eps: float,
    tolerance: float,
    generator: np.random.Generator,
) -> list[str]:
    """One directional derivative along a random direction of all inputs at once;
    on a mismatch, one more per input to say which inputs disagree."""
    directions = [generator.standard_normal(p.shape) for p in points]

    def compare(steps: list[np.ndarray]) -> tuple[bool, str]:
        plus = projected([p + eps * d for p, d in zip(points, steps, strict=True)])
        minus = projected([p - eps * d for p, d in zip(points, steps, strict=True)])
        numeric = (plus - minus) / (2 * eps)
        exact = sum(float(np.sum(g * d)) for g, d in zip(analytic, steps, strict=True))
        error = abs(exact - numeric)
        # NOTE: written as "<=" so that a NaN error counts as a failure.
        agree = error <= tolerance * max(abs(numeric), 1.0)
        relative = error / max(abs(numeric), 1e-300)
        return agree, (
            f"analytic {exact:.10g}, numeric {numeric:.10g}, rel. error {relative:.2e}"
        )

    agree, summary = compare(directions)
    if agree:
        return []
    lines = [f"  along a random direction of all {len(points)} input(s): {summary}"]
    for index in range(len(points)):
        alone = [
            d if i == index else np.zeros_like(d) for i, d in enumerate(directions)
        ]
        agree, summary = compare(alone)
        if not agree:
            lines.append(f"  input {index}, shape {points[index].shape}: {summary}")
    return ["\n".join(lines)]


def _check_every_element(
    projected: Callable[[list[np.ndarray]], float],
    points: list[np.ndarray],
    analytic: list[np.ndarray],
    eps: float,
    tolerance: float,
    n_report: int,
) -> list[str]:
    """Central differences of every element of every input; a table per failure."""
    failures = []
    for index, point in enumerate(points):
        numeric = np.zeros_like(point)
        for element in np.ndindex(point.shape):
            shifted = [p.copy() for p in points]
            shifted[index][element] += eps
            plus = projected(shifted)
            shifted[index][element] -= 2 * eps
            minus = projected(shifted)
            numeric[element] = (plus - minus) / (2 * eps)

        error = np.abs(analytic[index] - numeric)
        scale = max(float(np.max(np.abs(numeric), initial=0.0)), 1.0)
        # NOTE: written as "not <=" so that a NaN error counts as a failure.
        if point.size and not float(np.max(error)) <= tolerance * scale:
            failures.append(
                _worst_elements(f"input {index}", analytic[index], numeric, n_report)
            )
    return failures


def _worst_elements(
    what: str, analytic: np.ndarray, numeric: np.ndarray, n_report: int
) -> str:
    """A small table of the elements where analytic and numeric differ most."""
    error = np.abs(analytic - numeric)
    worst = np.argsort(-np.nan_to_num(error, nan=np.inf), axis=None)[:n_report]
    lines = [
        f"  {what}, shape {analytic.shape}:",
        f"    {'element':<14}{'analytic':>16}{'numeric':>16}{'rel. error':>12}",
    ]
    for flat in worst:
        element = np.unravel_index(flat, analytic.shape)
        relative = error[element] / max(abs(numeric[element]), 1e-300)
        lines.append(
            f"    {_index(element):<14}{analytic[element]:>16.8g}"
            f"{numeric[element]:>16.8g}{relative:>12.2e}"
        )
    return "\n".join(lines)


def _index(element: tuple[Any, ...]) -> str:
    return (
        "("
        + ", ".join(str(int(i)) for i in element)
        + ("," if len(element) == 1 else "")
        + ")"
    )


# ---------------------------------------------------------------- op by op


def _ops_in_order(out: Tensor) -> list[Tensor]:
    """The results of ops that ``out`` depends on, itself included, in the order
    the ops ran (``ctx.order``), so each comes after its inputs."""
    found = {id(out): out} if out.grad_fn is not None else {}
    stack = list(found.values())
    while stack:  # a loop, not recursion, so graphs of any depth work
        ctx = stack.pop().grad_fn
        assert ctx is not None
        for parent in ctx.parents:
            if parent.grad_fn is not None and id(parent) not in found:
                found[id(parent)] = parent
                stack.append(parent)
    return sorted(found.values(), key=lambda tensor: _context(tensor).order)


def _context(tensor: Tensor) -> Context:
    assert tensor.grad_fn is not None
    return tensor.grad_fn


def _locate(
    out: Tensor, eps: float, tolerance: float, generator: np.random.Generator
) -> str:
    """Check each op of the graph on its own, in forward order; describe the result."""
    nodes = _ops_in_order(out)
    wrong: list[tuple[str, str]] = []  # (op name, description), in forward order
    skipped: dict[str, set[str]] = {}  # reason -> op names
    for position, node in enumerate(nodes, start=1):
        ctx = node.grad_fn
        assert ctx is not None
        name = ctx.function.name
        if any(parent.data.dtype != np.float64 for parent in ctx.parents):
            skipped.setdefault("inputs not float64", set()).add(name)
            continue
        try:
            problem = _check_one_op(ctx, ctx.params, eps, tolerance, generator)
        except Exception as error:  # the op could not be run again on its own
            skipped.setdefault(f"{type(error).__name__}: {error}", set()).add(name)
            continue
        if problem:
            wrong.append((name, f"  {name} (op {position} of {len(nodes)}): {problem}"))

    lines = [f"checking each of the {len(nodes)} op(s) on its own:"]
    if wrong:
        lines.append(
            f"  the first op whose backward disagrees with central differences of its"
            f" own forward is {wrong[0][0]} (a wrong backward, or an input where the"
            " op is not differentiable)"
        )
        lines.extend(description for _, description in wrong)
    else:
        lines.append(
            "  every op checked agrees with its own forward; check that fn is"
            " differentiable at this point (no kink such as relu at 0) and"
            " deterministic"
        )
    for reason, names in skipped.items():
        lines.append(
            f"  not checked on their own ({reason}): {', '.join(sorted(names))}"
        )
    return "\n".join(lines)


def _check_one_op(
    ctx: Context,
    params: dict[str, Any],
    eps: float,
    tolerance: float,
    generator: np.random.Generator,
) -> str:
    """Check one op's backward against its forward at its recorded inputs.

    Returns a description of the worst disagreement, or "" when they agree.
    """
    function = ctx.function
    arrays = [parent.data.copy() for parent in ctx.parents]

    def forward(values: list[np.ndarray]) -> tuple[Context, np.ndarray]:
        leaves = tuple(Tensor._from_op(v, None) for v in values)
        fresh = Context(function, leaves, params)
        fresh.needs_input_grad = (True,) * len(values)
        return fresh, np.asarray(function.forward(fresh, *values, **params))

    fresh, result = forward(arrays)
    u = generator.standard_normal(result.shape)
    grads = _as_tuple(function.backward(fresh, u))

    def projected(values: list[np.ndarray]) -> float:
        return float(np.sum(u * forward(values)[1]))

    for index, array in enumerate(arrays):
        if not ctx.needs_input_grad[index] or array.size == 0:
            continue
        grad = grads[index] if grads[index] is not None else np.zeros_like(array)
        if array.size <= FULL_JACOBIAN_SIZE:
            numeric = np.zeros_like(array)
            for element in np.ndindex(array.shape):
                shifted = list(arrays)
                shifted[index] = array.copy()
                shifted[index][element] += eps
                plus = projected(shifted)
                shifted[index][element] -= 2 * eps
                numeric[element] = (plus - projected(shifted)) / (2 * eps)
            error = np.abs(grad - numeric)
            scale = max(float(np.max(np.abs(numeric))), 1.0)
            if not float(np.max(error)) <= tolerance * scale:
                flat = int(np.argmax(np.nan_to_num(error, nan=np.inf)))
                element = np.unravel_index(flat, array.shape)
                return (
                    f"backward is wrong for input {index} at element"
                    f" {_index(element)}: analytic {grad[element]:.8g}, numeric"
                    f" {numeric[element]:.8g}"
                )
        else:
            direction = generator.standard_normal(array.shape)
            plus = projected(_shift(arrays, index, eps * direction))
            minus = projected(_shift(arrays, index, -eps * direction))
            numeric_value = (plus - minus) / (2 * eps)
            exact = float(np.sum(grad * direction))
            if not abs(exact - numeric_value) <= tolerance * max(
                abs(numeric_value), 1.0
            ):
                return (
                    f"backward is wrong for input {index} along a random direction:"
                    f" analytic {exact:.8g}, numeric {numeric_value:.8g}"
                )
    return ""


def _as_tuple(grads: Any) -> tuple[Any, ...]:
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def _shift(arrays: list[np.ndarray], index: int, step: np.ndarray) -> list[np.ndarray]:
    shifted = list(arrays)
    shifted[index] = arrays[index] + step
    return shifted
