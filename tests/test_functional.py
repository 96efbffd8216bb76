"""Activations and the logistic loss at the extremes, checked against mpmath.

Warnings are errors in the whole suite; here floating-point trouble also raises
(``np.errstate(divide="raise", over="raise", invalid="raise")``), so a single
overflow inside an op fails the test even where the result would come out finite.
The oracle is mpmath at 200 bits; a value whose exact result is below the
dtype's smallest normal number is compared with an absolute floor instead.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor
from tinygrad_lr.tensor import ShapeError

mpmath.mp.prec = 200

MAGNITUDES = [0.0, 1e-300, 1.0, 36.7, 37.0, 88.0, 89.0, 104.0, 709.0, 710.0]
MAGNITUDES += [745.0, 746.0, 1e3, 1e4, 1e10, 1e30, 1e300, 1.7e308]
GRID64 = sorted({sign * m for m in MAGNITUDES for sign in (1.0, -1.0)})
GRID32 = [z for z in GRID64 if abs(z) <= float(np.finfo(np.float32).max)]

# Relative tolerances against mpmath, and the absolute floors used where the exact
REL = {np.float64: 1e-15, np.float32: 1e-6}
# value is below the dtype's smallest normal number: one step of the subnormals.
FLOOR = {dtype: float(np.finfo(dtype).smallest_subnormal) for dtype in REL}

STRICT = {"divide": "raise", "over": "raise", "invalid": "raise"}
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def mp_sigmoid(z: float) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-mpmath.mpf(z)))


def mp_log_sigmoid(z: float) -> mpmath.mpf:
    return -mpmath.log1p(mpmath.exp(-mpmath.mpf(z)))


def mp_bce(z: float, y: float) -> mpmath.mpf:
    """-y log σ(z) - (1 - y) log(1 - σ(z))."""
    return y * mpmath.log1p(mpmath.exp(-mpmath.mpf(z))) + (1 - y) * mpmath.log1p(
        mpmath.exp(mpmath.mpf(z))
    )


def relative_error(value: float, exact: mpmath.mpf) -> float:
    return float(abs(mpmath.mpf(value) - exact) / abs(exact)) if exact else abs(value)


def assert_matches(
    values: np.ndarray, exact: list[mpmath.mpf], dtype: type, rel: float | None = None
) -> None:
    """Each value within ``rel`` of mpmath, or within the floor where the exact
    value is below the smallest normal number of ``dtype``."""
    tolerance = REL[dtype] if rel is None else rel
    tiny = float(np.finfo(dtype).tiny)
    for index, (value, reference) in enumerate(
        zip(values.tolist(), exact, strict=True)
    ):
        error = abs(mpmath.mpf(value) - reference)
        if abs(reference) >= tiny:
            assert error <= tolerance * abs(reference), (
                f"element {index}: {value!r} vs {mpmath.nstr(reference, 20)}, relative"
                f" error {float(error / abs(reference)):.3g}"
            )
        else:
            assert error <= FLOOR[dtype], (
                f"element {index}: {value!r} vs {mpmath.nstr(reference, 20)}"
            )


# ---------------------------------------------------------------- finite everywhere


@given(z=hnp.arrays(np.float64, st.integers(0, 4), elements=FINITE))
def test_activations_and_their_gradients_are_finite_for_every_finite_input(
    z: np.ndarray,
) -> None:
    for function in (F.sigmoid, F.log_sigmoid, F.softplus):
        x = Tensor(z, requires_grad=True)

        with np.errstate(**STRICT):
            out = function(x)
            out.backward(np.ones(z.shape))

        assert np.isfinite(out.data).all(), function.__name__
        assert x.grad is not None and np.isfinite(x.grad).all(), function.__name__


@given(
    z=hnp.arrays(np.float64, st.integers(0, 4), elements=FINITE),
    data=st.data(),
)
def test_bce_and_its_gradients_are_finite_for_every_finite_logit(
    z: np.ndarray, data: st.DataObject
) -> None:
    y = data.draw(
        hnp.arrays(
            np.float64, z.shape, elements=st.sampled_from([0.0, 1.0]) | st.floats(0, 1)
        )
    )
    logits = Tensor(z, requires_grad=True)
    targets = Tensor(y, requires_grad=True)

    with np.errstate(**STRICT):
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss.backward(np.ones(z.shape))

    assert np.isfinite(loss.data).all()
    assert logits.grad is not None and np.isfinite(logits.grad).all()
    assert targets.grad is not None and np.isfinite(targets.grad).all()


@given(z=FINITE, y=st.sampled_from([0.0, 1.0]))
def test_mean_bce_of_one_finite_logit_is_finite_with_a_gradient_in_minus_one_one(
    z: float, y: float
) -> None:
    logits = Tensor([z], requires_grad=True)

    with np.errstate(**STRICT):
        loss = F.binary_cross_entropy_with_logits(logits, [y])
        loss.backward()

    assert np.isfinite(loss.item()) and loss.item() >= 0.0
    assert logits.grad is not None and -1.0 <= logits.grad[0] <= 1.0


def test_the_mean_bce_of_huge_logits_is_their_mean_though_their_sum_overflows():
    z = np.array([1e308, 1e308, 5e307])  # per-sample losses z for targets 0

    with pytest.warns(RuntimeWarning, match="overflow"):  # NumPy's, on the sum
        loss = F.binary_cross_entropy_with_logits(z, np.zeros(3))

    assert loss.item() == pytest.approx(np.mean(z / 3) * 3, rel=1e-15)


def test_bce_of_float32_logits_and_float64_targets_is_float64_as_numpy_promotes():
    logits = Tensor(np.array([0.5, -2.0], np.float32), requires_grad=True)
    targets = Tensor(np.array([1.0, 0.3]))

    loss = F.binary_cross_entropy_with_logits(logits, targets)
    loss.backward()

    expected = np.mean(np.logaddexp(0.0, [0.5, -2.0]) - np.array([0.5, -0.6]))
    assert loss.dtype == np.float64
    assert loss.item() == pytest.approx(expected, rel=1e-6)  # exp(-|z|) in float32
    assert logits.grad is not None and logits.grad.dtype == np.float32


# ---------------------------------------------------------------- sigmoid


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_sigmoid_matches_mpmath_on_the_extreme_grid(dtype: type) -> None:
    z = np.array(GRID64 if dtype is np.float64 else GRID32, dtype=dtype)

    with np.errstate(**STRICT):
        out = F.sigmoid(z)

    assert out.dtype == dtype
    assert_matches(out.data, [mp_sigmoid(v) for v in z.tolist()], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_sigmoid_on_the_grid_is_monotone_symmetric_and_in_zero_one(
    dtype: type,
) -> None:
    z = np.array(GRID64 if dtype is np.float64 else GRID32, dtype=dtype)

    with np.errstate(**STRICT):
        s = F.sigmoid(z).data
        s_minus = F.sigmoid(-z).data

    assert np.all((s >= 0.0) & (s <= 1.0))
    assert np.all(np.diff(s) >= 0.0)
    assert F.sigmoid(np.array(-1000.0)).item() == 0.0
    assert F.sigmoid(np.array(1000.0)).item() == 1.0
    np.testing.assert_allclose(s_minus, 1.0 - s, rtol=0, atol=np.finfo(dtype).eps / 2)


@given(z=FINITE)
def test_sigmoid_is_symmetric_within_one_rounding_of_the_complement(z: float) -> None:
    # Not 1e-16: in [0.5, 1) one ulp of σ(z) is 1.1e-16, and σ(z) rounds there;
    # SciPy's expit is off by up to 2.2e-16. Over 10⁶ uniform draws on [-40, 40]
    # the worst case here is 1.7e-16.
    with np.errstate(**STRICT):
        s = F.sigmoid(np.array(z)).item()
        s_minus = F.sigmoid(np.array(-z)).item()

    assert abs(s_minus - (1.0 - s)) <= np.finfo(np.float64).eps


def test_sigmoid_of_a_subnormal_is_one_half_with_gradient_one_quarter() -> None:
    x = Tensor(1e-310, requires_grad=True)

    out = x.sigmoid()
    out.backward()

    assert out.item() == 0.5
    assert x.grad == 0.25


# ---------------------------------------------------------------- log-sigmoid


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_log_sigmoid_matches_mpmath_on_the_extreme_grid(dtype: type) -> None:
    z = np.array(GRID64 if dtype is np.float64 else GRID32, dtype=dtype)
    x = Tensor(z, requires_grad=True)

    with np.errstate(**STRICT):
        out = F.log_sigmoid(x)
        out.backward(np.ones(z.shape, dtype=dtype))

    assert out.dtype == dtype and x.grad is not None and x.grad.dtype == dtype
    assert_matches(out.data, [mp_log_sigmoid(v) for v in z.tolist()], dtype)
    # d logσ(z)/dz = σ(-z), finite and in [0, 1]
    assert_matches(x.grad, [mp_sigmoid(-v) for v in z.tolist()], dtype)
    assert np.all((x.grad >= 0.0) & (x.grad <= 1.0))


def test_log_sigmoid_keeps_extreme_values_exact() -> None:
    with np.errstate(**STRICT):
        values = F.log_sigmoid(np.array([-1000.0, 40.0, 1000.0])).data

    assert values[0] == -1000.0
    assert relative_error(values[1], mp_log_sigmoid(40.0)) <= 1e-12
    assert values[1] == pytest.approx(-4.248354255291589e-18, rel=1e-12)
    assert values[2] == 0.0


# ---------------------------------------------------------------- BCE


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_bce_at_plus_minus_1000_is_exact_with_exact_gradients(dtype: type) -> None:
    z = np.array([1000.0, 1000.0, -1000.0, -1000.0], dtype=dtype)
    y = np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    logits = Tensor(z, requires_grad=True)

    with np.errstate(**STRICT):
        losses = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        mean = F.binary_cross_entropy_with_logits(logits, y)
        mean.backward()

    np.testing.assert_array_equal(losses.data, [1000.0, 0.0, 0.0, 1000.0])
    assert mean.item() == 500.0 and mean.dtype == dtype
    assert logits.grad is not None and logits.grad.dtype == dtype
    np.testing.assert_array_equal(logits.grad, [0.25, 0.0, 0.0, -0.25])


@pytest.mark.parametrize("y", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_bce_loss_matches_mpmath_across_the_grid(y: float, dtype: type) -> None:
    z = np.array(GRID64 if dtype is np.float64 else GRID32, dtype=dtype)

    with np.errstate(**STRICT):
        losses = F.binary_cross_entropy_with_logits(
            z, np.full(z.shape, y, dtype=dtype), reduction="none"
        )

    assert losses.dtype == dtype
    rel = 1e-12 if dtype is np.float64 else 1e-5
    assert_matches(losses.data, [mp_bce(v, y) for v in z.tolist()], dtype, rel=rel)


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_bce_gradient_keeps_its_relative_accuracy_where_sigmoid_rounds(
    y: float,
) -> None:
    # y = 1 and z >= 37, or y = 0 and z <= -37: σ(z) - y is tiny, and computing it
    # as a difference would leave no correct digit.
    sign = 1.0 if y == 1.0 else -1.0
    z = sign * np.array([36.7, 37.0, 40.0, 88.0, 104.0, 500.0, 709.0, 745.0, 1e3])
    logits = Tensor(z, requires_grad=True)

    with np.errstate(**STRICT):
        F.binary_cross_entropy_with_logits(
            logits, np.full(z.shape, y), "sum"
        ).backward()

    # σ(z) - 1 = -σ(-z): the form that keeps mpmath itself free of cancellation
    exact = [-mp_sigmoid(-v) if y == 1.0 else mp_sigmoid(v) for v in z.tolist()]
    assert logits.grad is not None
    assert_matches(logits.grad, exact, np.float64)


# ---------------------------------------------------------------- reductions


def test_bce_reductions_relate_as_sum_mean_and_elements(
    rng: np.random.Generator,
) -> None:
    z = rng.normal(scale=5.0, size=7)
    y = (rng.random(7) < 0.5).astype(np.float64)
    grads = {}
    values = {}
    for reduction in ("none", "sum", "mean"):
        logits = Tensor(z, requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)
        loss.backward(np.ones(loss.shape))
        values[reduction], grads[reduction] = loss.data, logits.grad

    per_element = [float(mp_bce(v, t)) for v, t in zip(z, y, strict=True)]
    assert values["none"].shape == (7,)
    np.testing.assert_allclose(values["none"], per_element, rtol=1e-12)
    np.testing.assert_allclose(values["sum"], np.sum(per_element), rtol=1e-12)
    np.testing.assert_allclose(values["mean"], np.mean(per_element), rtol=1e-12)
    residual = [float(mp_sigmoid(v) - t) for v, t in zip(z, y, strict=True)]
    np.testing.assert_allclose(grads["none"], residual, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["sum"], residual, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["mean"], np.divide(residual, 7), rtol=1e-12)


def test_bce_with_reduction_none_accepts_an_empty_batch() -> None:
    losses = F.binary_cross_entropy_with_logits([], [], reduction="none")

    assert losses.shape == (0,)


def test_bce_accepts_soft_targets_and_python_lists() -> None:
    loss = F.binary_cross_entropy_with_logits([0.0, 2.0], [0.3, 0.7])

    expected = (mp_bce(0.0, 0.3) + mp_bce(2.0, 0.7)) / 2
    assert relative_error(loss.item(), expected) <= 1e-15


# ---------------------------------------------------------------- validation


BCE = F.binary_cross_entropy_with_logits
NAME = "binary_cross_entropy_with_logits"


@pytest.mark.parametrize(
    ("logits", "targets", "kwargs", "error", "match"),
    [
        (
            np.zeros((3, 1)),
            np.zeros(3),
            {},
            ShapeError,
            rf"^{NAME}: logits shape \(3, 1\) != targets shape \(3,\); reshape",
        ),
        (
            np.zeros(3),
            [0.0, 2.0, 1.0],
            {},
            ValueError,
            rf"^{NAME}: targets must be in \[0, 1\]; got values such as \[2\.0\]",
        ),
        (
            np.zeros(2),
            [-0.5, 1.0],
            {},
            ValueError,
            rf"^{NAME}: targets must be in \[0, 1\]; got values such as \[-0\.5\]",
        ),
        (
            np.zeros(2),
            [np.nan, 1.0],
            {},
            ValueError,
            rf"^{NAME}: targets must be in \[0, 1\]; got values such as \[nan\]",
        ),
        ([0.0, np.nan], [0.0, 1.0], {}, ValueError, rf"^{NAME}: logits contain NaN"),
        ([np.inf, 0.0], [1.0, 1.0], {}, ValueError, rf"^{NAME}: logits contain inf"),
        ([-np.inf], [0.0], {}, ValueError, rf"^{NAME}: logits contain inf"),
        ([], [], {}, ValueError, rf"^{NAME}: empty batch \(logits of shape \(0,\)\)"),
        (
            np.zeros(0),
            np.zeros(0),
            {"reduction": "sum"},
            ValueError,
            rf"^{NAME}: empty batch",
        ),
        (
            [0.0],
            [1.0],
            {"reduction": "avg"},
            ValueError,
            rf"^{NAME}: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'",
        ),
    ],
    ids=[
        "column-logits",
        "target-2",
        "target-minus-half",
        "target-nan",
        "logit-nan",
        "logit-inf",
        "logit-minus-inf",
        "empty-mean",
        "empty-sum",
        "bad-reduction",
    ],
)
def test_bce_rejects_bad_input_with_a_clear_message(
    logits: object, targets: object, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        BCE(logits, targets, **kwargs)


def test_bce_never_broadcasts_a_column_against_a_row() -> None:
    logits = Tensor(np.zeros((4, 1)), requires_grad=True)

    with pytest.raises(ShapeError, match=r"\(4, 1\) != targets shape \(4,\)"):
        BCE(logits, np.ones(4))


# ---------------------------------------------------------------------------
# the targets check


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_the_targets_check_accepts_exactly_the_values_in_0_1(dtype, data):
    edges = [0.0, -0.0, 1.0, np.nextafter(dtype(1), dtype(2)), -np.finfo(dtype).tiny]
    edges += [np.finfo(dtype).smallest_subnormal, np.nan, np.inf, -np.inf, 0.5, 2.0]
    elements = st.one_of(
        st.sampled_from([dtype(e) for e in edges]),
        st.floats(width=32 if dtype is np.float32 else 64),
    )
    targets = data.draw(
        hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_side=6), elements=elements)
    )
    logits = np.zeros(targets.shape, dtype)
    valid = bool(np.all((targets >= 0) & (targets <= 1)))

    if valid:
        F.binary_cross_entropy_with_logits(logits, Tensor(targets))
    else:
        with pytest.raises(ValueError, match=r"targets must be in \[0, 1\]"):
            F.binary_cross_entropy_with_logits(logits, Tensor(targets))


def test_negative_zero_targets_are_valid():
    loss = F.binary_cross_entropy_with_logits([0.0, 0.0], [-0.0, 1.0])
    assert float(loss) == pytest.approx(np.log(2.0), rel=1e-15)


@pytest.mark.parametrize("dtype", [">f8", "<f2", np.float32, np.float64])
def test_the_targets_check_of_any_float_dtype_falls_back_to_the_exact_test(dtype):
    from tinygrad_lr._checks import in_unit_interval

    assert in_unit_interval(np.array([0.0, -0.0, 0.5, 1.0], dtype=dtype))
    assert not in_unit_interval(np.array([0.5, 1.5], dtype=dtype))
    assert not in_unit_interval(np.array([[0.5], [-0.25]], dtype=dtype))
