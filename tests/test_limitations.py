"""What tinygrad_lr cannot do yet, written as the test it would pass.

Each gap raises a clear error today and is listed in the README's "Limitations";
these tests are strict xfails, so the day one of them passes the suite says so and
the gap can be closed properly (code, README and this file together).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_lr import Tensor


@pytest.mark.xfail(
    raises=NotImplementedError, strict=True, reason="matmul is 1-D and 2-D only"
)
def test_batched_matmul_matches_numpy() -> None:
    a = Tensor(np.ones((4, 2, 3)), requires_grad=True)
    b = Tensor(np.ones((3, 5)), requires_grad=True)
    out = a @ b
    out.sum().backward()
    np.testing.assert_array_equal(out.data, np.ones((4, 2, 3)) @ np.ones((3, 5)))


@pytest.mark.xfail(
    raises=NotImplementedError, strict=True, reason="the exponent is a constant"
)
def test_tensor_exponent_is_differentiable() -> None:
    x = Tensor([2.0], requires_grad=True)
    p = Tensor([3.0], requires_grad=True)
    (x**p).sum().backward()
    assert p.grad is not None
