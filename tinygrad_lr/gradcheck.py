"""Check an autograd gradient against float64 central differences.

The output of ``fn`` is projected on a fixed random direction u, so one backward
pass gives the analytic ``uᵀJ`` for every input element; central differences of
``u · fn(x)`` give the numeric one. They must agree normwise:
``max|g - g_fd| <= tolerance · max(max|g_fd|, 1)`` for each input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_lr.tensor import DTypeError, Tensor, no_grad

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """The analytic and the numeric gradient disagree; the message has the worst
    elements."""


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
) -> bool:
    """Compare the gradient of ``fn`` at ``inputs`` with central differences.

    Parameters
    ----------
    fn : callable
        Takes one Tensor per input and returns a Tensor of any shape.
    inputs : sequence of Tensor or array-like
        The point to check at; float64 (float32 central differences are too
        coarse to check anything). They are copied, never changed.
    eps : float, default 1e-6
        Step of the central differences.
    tolerance : float, default 1e-6
        Allowed normwise error, relative to ``max(max|g_fd|, 1)``.
    mode : {"full", "random"}, default "full"
        "full" differentiates every input element (2 calls of ``fn`` each);
        "random" checks one random direction per input (2 calls in all), for large
        inputs.
    rng : int or Generator, default 0
        Seed of the random projections.
    n_report : int, default 5
        How many of the worst elements the failure message lists.
    raise_exception : bool, default True
        Raise :class:`GradcheckError` on a mismatch; otherwise return False.

    Returns
    -------
    bool
        True when the gradients agree.

    Examples
    --------
    >>> gradcheck(lambda x: (x * x).sum(), [np.array([1.0, -2.0, 3.0])])
    True
    """
    if mode not in ("full", "random"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'random', got {mode!r}")
    points = [
        np.array(x.data if isinstance(x, Tensor) else x, dtype=None) for x in inputs
    ]
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
        directions = [generator.standard_normal(p.shape) for p in points]
        plus = projected([p + eps * d for p, d in zip(points, directions, strict=True)])
        minus = projected(
            [p - eps * d for p, d in zip(points, directions, strict=True)]
        )
        numeric = (plus - minus) / (2 * eps)
        exact = sum(
            float(np.sum(g * d)) for g, d in zip(analytic, directions, strict=True)
        )
        if abs(exact - numeric) <= tolerance * max(abs(numeric), 1.0):
            return True
        message = (
            f"gradcheck: gradient of the output of {op} disagrees along a random"
            f" direction: analytic {exact:.10g}, numeric {numeric:.10g}"
        )
        if raise_exception:
            raise GradcheckError(message)
        return False

    failures = []
    for index, point in enumerate(points):
        numeric_grad = np.zeros_like(point)
        for element in np.ndindex(point.shape):
            shifted = [p.copy() for p in points]
            shifted[index][element] += eps
            plus = projected(shifted)
            shifted[index][element] -= 2 * eps
            minus = projected(shifted)
            numeric_grad[element] = (plus - minus) / (2 * eps)
        error = np.abs(analytic[index] - numeric_grad)
        scale = max(float(np.max(np.abs(numeric_grad), initial=0.0)), 1.0)
        if point.size and not float(np.max(error)) <= tolerance * scale:
            failures.append(
                _report(index, analytic[index], numeric_grad, error, n_report)
            )
    if not failures:
        return True
    message = f"gradcheck: gradient of the output of {op} disagrees\n" + "\n".join(
        failures
    )
    if raise_exception:
        raise GradcheckError(message)
    return False


def _report(
    index: int,
    analytic: np.ndarray,
    numeric: np.ndarray,
    error: np.ndarray,
    n_report: int,
) -> str:
    """A small table of the worst elements of one input."""
    worst = np.argsort(-np.nan_to_num(error, nan=np.inf), axis=None)[:n_report]
    lines = [
        f"  input {index}, shape {analytic.shape}:",
        f"    {'index':<14}{'analytic':>16}{'numeric':>16}{'rel. error':>12}",
    ]
    for flat in worst:
        element = np.unravel_index(flat, analytic.shape)
        relative = error[element] / max(abs(numeric[element]), 1e-300)
        lines.append(
            f"    {element!s:<14}{analytic[element]:>16.8g}{numeric[element]:>16.8g}"
            f"{relative:>12.2e}"
        )
    return "\n".join(lines)
