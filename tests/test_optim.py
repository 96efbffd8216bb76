"""Optimizers: hand-computed update formulas, validation and edge cases."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_lr import ShapeError, Tensor, nn
from tinygrad_lr.optim import SGD, Adam

# Gradients fed to three consecutive steps, the same for every formula test.
W0 = [0.5, -1.5]
GRADS = [[0.3, -0.2], [-0.1, 0.4], [0.25, 0.05]]


def _run(optimizer_class, **hyperparameters):
    """Take three steps with the gradients above; return the weights after each."""
    w = Tensor(W0, requires_grad=True)
    optimizer = optimizer_class([w], **hyperparameters)
    trajectory = []
    for grad in GRADS:
        w.grad = np.array(grad)
        optimizer.step()
        trajectory.append(w.data.tolist())
    return trajectory


def _close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-15, atol=1e-15)


# ---------------------------------------------------------------------------
# update formulas, element by element in plain Python floats


def test_sgd_steps_are_w_minus_lr_times_grad():
    lr = 0.1
    expected, w = [], list(W0)
    for grad in GRADS:
        w = [wi - lr * gi for wi, gi in zip(w, grad, strict=True)]
        expected.append(w)

    _close(_run(SGD, lr=lr), expected)


def test_sgd_with_momentum_accumulates_a_velocity():
    lr, mu = 0.1, 0.9
    # v1 = g1, v2 = mu v1 + g2, v3 = mu v2 + g3; w_t = w_{t-1} - lr v_t
    expected, w, v = [], list(W0), None
    for grad in GRADS:
        if v is None:
            v = list(grad)
        else:
            v = [mu * vi + gi for vi, gi in zip(v, grad, strict=True)]
        w = [wi - lr * vi for wi, vi in zip(w, v, strict=True)]
        expected.append(w)

    _close(_run(SGD, lr=lr, momentum=mu), expected)


def test_sgd_weight_decay_adds_a_multiple_of_the_weights_to_the_gradient():
    lr, mu, decay = 0.1, 0.5, 0.01
    expected, w, v = [], list(W0), None
    for grad in GRADS:
        d = [gi + decay * wi for gi, wi in zip(grad, w, strict=True)]
        v = d if v is None else [mu * vi + di for vi, di in zip(v, d, strict=True)]
        w = [wi - lr * vi for wi, vi in zip(w, v, strict=True)]
        expected.append(w)

    _close(_run(SGD, lr=lr, momentum=mu, weight_decay=decay), expected)


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_adam_steps_use_bias_correction_at_t_1_2_3(decay):
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    expected, w = [], list(W0)
    m, v = [0.0, 0.0], [0.0, 0.0]
    for t, grad in enumerate(GRADS, start=1):
        d = [gi + decay * wi for gi, wi in zip(grad, w, strict=True)]
        m = [beta1 * mi + (1 - beta1) * di for mi, di in zip(m, d, strict=True)]
        v = [beta2 * vi + (1 - beta2) * di * di for vi, di in zip(v, d, strict=True)]
        m_hat = [mi / (1 - beta1**t) for mi in m]
        v_hat = [vi / (1 - beta2**t) for vi in v]
        w = [
            wi - lr * mh / (math.sqrt(vh) + eps)
            for wi, mh, vh in zip(w, m_hat, v_hat, strict=True)
        ]
        expected.append(w)

    _close(
        _run(Adam, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=decay), expected
    )


@given(
    g=st.one_of(
        st.sampled_from([0.0, 1e-8, -1e-8, 1.0, -1.0, 1e8, -1e8]),
        st.floats(-1e150, 1e150, allow_nan=False),
    ),
    lr=st.sampled_from([1e-3, 0.1, 1.0]),
)
def test_adam_first_step_is_lr_g_over_abs_g_plus_eps_and_at_most_lr(g, lr):
    w = Tensor([0.0], requires_grad=True)
    optimizer = Adam([w], lr=lr, eps=1e-8)
    w.grad = np.array([g])

    optimizer.step()

    step = -w.data[0]
    expected = lr * g / (abs(g) + 1e-8)
    assert math.isclose(step, expected, rel_tol=1e-15, abs_tol=1e-300)
    # NOTE: m/(1-β1) and √(v/(1-β2)) each round, so the bound holds to a few ulps
    # (g = 1.2e16 gives a step of lr·(1 + 2.2e-16)), not exactly.
    assert abs(step) <= lr * (1 + 4 * np.finfo(np.float64).eps)


def test_steps_through_backward_match_the_formula():
    # loss = Σ w², so grad = 2w, and SGD gives w ← (1 - 2 lr) w each step.
    w = Tensor([1.0, -3.0], requires_grad=True)
    optimizer = SGD([w], lr=0.25)
    for _ in range(3):
        optimizer.zero_grad()
        (w * w).sum().backward()
        optimizer.step()

    np.testing.assert_array_equal(w.data, [0.125, -0.375])


def test_a_step_replaces_data_instead_of_writing_into_it():
    w = Tensor([1.0], requires_grad=True)
    old = w.data
    w.grad = np.array([1.0])

    SGD([w], lr=0.5).step()

    assert old.tolist() == [1.0]
    assert w.data.tolist() == [0.5]


@pytest.mark.parametrize(
    ("optimizer_class", "hyperparameters"),
    [(SGD, {"momentum": 0.9, "weight_decay": 0.1}), (Adam, {"weight_decay": 0.1})],
)
def test_a_float32_parameter_stays_float32_under_a_float64_gradient(
    optimizer_class, hyperparameters
):
    w = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    optimizer = optimizer_class([w], lr=0.1, **hyperparameters)

    for _ in range(2):
        w.grad = np.array([0.5, -0.5])
        optimizer.step()

    assert w.dtype == np.float32


# ---------------------------------------------------------------------------
# hyperparameter validation

OPTIMIZERS = [SGD, Adam]


@pytest.mark.parametrize("optimizer_class", OPTIMIZERS)
@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"lr": 0.0}, r"lr must be a finite number in \(0.0, inf\), got 0.0"),
        ({"lr": -0.1}, r"lr must be a finite number in \(0.0, inf\), got -0.1"),
        ({"lr": float("nan")}, "lr must be a finite number .*, got nan"),
        ({"lr": float("inf")}, "lr must be a finite number .*, got inf"),
        ({"lr": "0.1"}, "lr must be a finite number .*, got '0.1'"),
        ({"lr": True}, "lr must be a finite number .*, got True"),
        ({"lr": 0.1, "weight_decay": -1e-4}, r"weight_decay .* \[0.0, inf\), got -0"),
        ({"lr": 0.1, "weight_decay": float("nan")}, "weight_decay .* got nan"),
    ],
)
def test_invalid_shared_hyperparameters_raise_naming_parameter_and_value(
    optimizer_class, hyperparameters, match
):
    name = optimizer_class.__name__
    with pytest.raises(ValueError, match=f"{name}: {match}"):
        optimizer_class([Tensor([1.0], requires_grad=True)], **hyperparameters)


@pytest.mark.parametrize(
    ("optimizer_class", "hyperparameters", "match"),
    [
        (SGD, {"momentum": -0.5}, r"SGD: momentum .* \[0.0, 1.0\), got -0.5"),
        (SGD, {"momentum": 1.0}, r"SGD: momentum .* \[0.0, 1.0\), got 1.0"),
        (SGD, {"momentum": float("nan")}, "SGD: momentum .* got nan"),
        (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\] .* \[0.0, 1.0\), got 1.0"),
        (Adam, {"betas": (-0.1, 0.999)}, r"betas\[0\] .* got -0.1"),
        (Adam, {"betas": (0.9, 1.5)}, r"betas\[1\] .* got 1.5"),
        (Adam, {"betas": (0.9, float("nan"))}, r"betas\[1\] .* got nan"),
        (Adam, {"betas": (0.9,)}, r"betas must be a pair \(beta1, beta2\)"),
        (Adam, {"betas": 0.9}, r"betas must be a pair .* got 0.9"),
        (Adam, {"eps": -1e-8}, r"Adam: eps .* \(0.0, inf\), got -1e-08"),
        (Adam, {"eps": 0.0}, r"Adam: eps .* \(0.0, inf\), got 0.0"),
    ],
)
def test_invalid_specific_hyperparameters_raise_naming_parameter_and_value(
    optimizer_class, hyperparameters, match
):
    with pytest.raises(ValueError, match=match):
        optimizer_class([Tensor([1.0], requires_grad=True)], lr=0.1, **hyperparameters)


# ---------------------------------------------------------------------------
# what counts as parameters


@pytest.mark.parametrize("optimizer_class", OPTIMIZERS)
def test_an_empty_parameter_list_raises(optimizer_class):
    name = optimizer_class.__name__
    with pytest.raises(ValueError, match=f"{name}: got an empty parameter list"):
        optimizer_class([], lr=0.1)


@pytest.mark.parametrize("optimizer_class", OPTIMIZERS)
def test_an_exhausted_generator_raises_as_an_empty_list(optimizer_class):
    model = nn.MLP([2, 3, 1], rng=0)
    params = (p for p in model.parameters())
    optimizer_class(params, lr=0.1)

    with pytest.raises(ValueError, match="got an empty parameter list"):
        optimizer_class(params, lr=0.1)


@pytest.mark.parametrize("optimizer_class", OPTIMIZERS)
@pytest.mark.parametrize(
    ("params", "kind"),
    [
        (Tensor([1.0], requires_grad=True), "Tensor"),
        (nn.Parameter([1.0]), "Parameter"),
        (3, "int"),
    ],
)
def test_a_single_tensor_or_a_non_iterable_raises_type_error(
    optimizer_class, params, kind
):
    with pytest.raises(
        TypeError,
        match=rf"params must be an iterable of Tensors, got {kind}; pass"
        r" model\.parameters\(\)",
    ):
        optimizer_class(params, lr=0.1)


@pytest.mark.parametrize("optimizer_class", OPTIMIZERS)
def test_an_element_that_is_not_a_tensor_raises_naming_its_index(optimizer_class):
    with pytest.raises(TypeError, match="parameter 1 is a ndarray, not a Tensor"):
        optimizer_class([Tensor([1.0], requires_grad=True), np.ones(2)], lr=0.1)


@pytest.mark.parametrize("optimizer_class", OPTIMIZERS)
@pytest.mark.parametrize(
    "make",
    [
        lambda leaf: leaf * 2.0,  # a non-leaf
        lambda leaf: Tensor([1.0]),  # a leaf that does not require grad
        lambda leaf: leaf.detach(),
    ],
    ids=["non-leaf", "no-grad", "detached"],
)
def test_tensors_that_cannot_be_optimized_raise_naming_the_index(optimizer_class, make):
    leaf = Tensor([1.0], requires_grad=True)

    with pytest.raises(ValueError, match="parameter 1 can't be optimized: it must be"):
        optimizer_class([leaf, make(leaf)], lr=0.1)


# ---------------------------------------------------------------------------
# gradients that are missing or not finite


@pytest.mark.parametrize(
    ("optimizer_class", "hyperparameters"),
    [(SGD, {"momentum": 0.9, "weight_decay": 0.1}), (Adam, {"weight_decay": 0.1})],
)
def test_parameters_whose_grad_is_none_are_left_unchanged(
    optimizer_class, hyperparameters
):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0], requires_grad=True)
    optimizer = optimizer_class([a, b], lr=0.1, **hyperparameters)
    a.grad = np.array([1.0, 1.0])

    optimizer.step()
    optimizer.step()

    assert b.data.tolist() == [3.0]
    assert a.data.tolist() != [1.0, 2.0]


def test_adam_gives_a_late_parameter_a_bias_corrected_first_step():
    a = Tensor([0.0], requires_grad=True)
    b = Tensor([0.0], requires_grad=True)
    optimizer = Adam([a, b], lr=0.1)
    a.grad = np.array([1.0])
    optimizer.step()
    optimizer.step()

    b.grad = np.array([0.5])
    optimizer.step()

    # b's first update, even though it is the optimizer's third step.
    assert math.isclose(-b.data[0], 0.1 * 0.5 / (0.5 + 1e-8), rel_tol=1e-15)


@pytest.mark.parametrize(
    ("optimizer_class", "hyperparameters"),
    [(SGD, {}), (SGD, {"momentum": 0.9}), (Adam, {})],
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("flat", [False, True], ids=["per_parameter", "flat"])
def test_a_non_finite_grad_raises_naming_the_index_and_updates_nothing(
    optimizer_class, hyperparameters, bad, flat
):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    # Three or more parameters, all with a gradient, take the flat step.
    others = [Tensor([5.0], requires_grad=True) for _ in range(2 if flat else 0)]
    optimizer = optimizer_class([a, b, *others], lr=0.1, **hyperparameters)
    fresh = optimizer_class([Tensor([1.0, 2.0], requires_grad=True)], lr=0.1)
    a.grad, b.grad = np.array([0.5, 0.5]), np.array([0.0, bad])
    for other in others:
        other.grad = np.array([0.5])

    with pytest.raises(
        FloatingPointError,
        match=r"step: parameter 1 \(shape \(2,\)\) has a NaN or inf gradient; no",
    ):
        optimizer.step()

    assert a.data.tolist() == [1.0, 2.0]
    assert b.data.tolist() == [3.0, 4.0]
    assert [other.data.tolist() for other in others] == [[5.0]] * len(others)
    # The failed step left no state behind: the next step is a first step.
    b.grad = None
    optimizer.step()
    fresh.params[0].grad = np.array([0.5, 0.5])
    fresh.step()
    assert a.data.tolist() == fresh.params[0].data.tolist()


def test_zero_grad_clears_every_parameters_gradient():
    params = [Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)]
    optimizer = SGD(params, lr=0.1)
    for p in params:
        p.grad = np.ones(1)

    optimizer.zero_grad()

    assert [p.grad for p in params] == [None, None]


def test_zero_grad_then_backward_equals_a_single_fresh_backward():
    w = Tensor([1.5, -2.0], requires_grad=True)
    optimizer = SGD([w], lr=0.1)
    (w * w).sum().backward()
    (w * w).sum().backward()

    optimizer.zero_grad()
    (w * w).sum().backward()

    np.testing.assert_array_equal(w.grad, [3.0, -4.0])


# ---------------------------------------------------------------------------
# one optimizer over many parameters is many optimizers over one parameter each

CONFIGURATIONS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (Adam, {"lr": 0.01}),
    (Adam, {"lr": 0.01, "weight_decay": 0.05}),
]
SHAPES = st.lists(
    st.sampled_from([(), (1,), (3,), (2, 3), (4, 1)]), min_size=1, max_size=4
)


def _one_by_one(optimizer_class, param, **hyperparameters):
    """An optimizer for ``param`` that always takes the per-parameter path: it
    also holds a parameter that never gets a gradient."""
    return optimizer_class([param, Tensor(0.0, requires_grad=True)], **hyperparameters)


@pytest.mark.parametrize(("optimizer_class", "hyperparameters"), CONFIGURATIONS)
@given(
    shapes=SHAPES,
    float32=st.lists(st.booleans(), min_size=4, max_size=4),
    # per step, which parameters have a gradient
    present=st.lists(
        st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=5
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_step_over_all_parameters_equals_separate_steps_bit_for_bit(
    optimizer_class, hyperparameters, shapes, float32, present, seed
):
    # All present, one dtype: the update runs once on the parameters laid end to
    # end. Any other step runs parameter by parameter. Both must agree exactly
    # with the per-parameter path of optimizers that hold one parameter each.
    rng = np.random.default_rng(seed)
    dtypes = [np.float32 if f else np.float64 for f in float32[: len(shapes)]]
    starts = [rng.normal(size=s).astype(d) for s, d in zip(shapes, dtypes, strict=True)]
    together = [Tensor(a.copy(), requires_grad=True) for a in starts]
    alone = [Tensor(a.copy(), requires_grad=True) for a in starts]
    optimizer = optimizer_class(together, **hyperparameters)
    separate = [_one_by_one(optimizer_class, p, **hyperparameters) for p in alone]

    for mask in present:
        for i, (p, q) in enumerate(zip(together, alone, strict=True)):
            grad_dtype = np.float32 if rng.random() < 0.3 else p.dtype
            grad = rng.normal(size=p.shape).astype(grad_dtype) if mask[i] else None
            p.grad, q.grad = grad, grad
        optimizer.step()
        for single in separate:
            single.step()

        for i, (p, q) in enumerate(zip(together, alone, strict=True)):
            assert p.dtype == q.dtype
            np.testing.assert_array_equal(p.data, q.data)
            assert optimizer.steps[i] == separate[i].steps[0]
            for name, value in optimizer.state[i].items():
                np.testing.assert_array_equal(value, separate[i].state[0][name])


def test_a_gradient_of_the_wrong_shape_raises_naming_the_parameter():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    optimizer = SGD([a, b], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones((2, 1))

    with pytest.raises(
        ShapeError, match=r"parameter 1 had shape \(2,\) .* its grad \(2, 1\)"
    ):
        optimizer.step()
    assert a.data.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("optimizer_class", "hyperparameters"), CONFIGURATIONS)
def test_data_replaced_or_edited_between_steps_is_what_the_next_step_updates(
    optimizer_class, hyperparameters
):
    def run(params):
        optimizer = optimizer_class(params, **hyperparameters)
        trajectory = []
        for step in range(4):
            for p in params:
                p.grad = np.full(p.shape, 0.5 - step)
            optimizer.step()
            trajectory.append([p.data.tolist() for p in params])
            if step == 0:
                params[0].data = params[1].data  # tie a to b's current values
            if step == 1:
                params[1].data[0] = 7.0  # edit in place
            if step == 2:
                params[0].data = np.array([-1.0, 1.0])
        return trajectory

    def separately(params):
        optimizers = [
            _one_by_one(optimizer_class, p, **hyperparameters) for p in params
        ]
        trajectory = []
        for step in range(4):
            for p, optimizer in zip(params, optimizers, strict=True):
                p.grad = np.full(p.shape, 0.5 - step)
                optimizer.step()
            trajectory.append([p.data.tolist() for p in params])
            if step == 0:
                params[0].data = params[1].data
            if step == 1:
                params[1].data[0] = 7.0
            if step == 2:
                params[0].data = np.array([-1.0, 1.0])
        return trajectory

    def make():
        # three parameters, so that steps with all gradients run flat
        return [
            Tensor([1.0, 2.0], requires_grad=True),
            Tensor([3.0, 4.0], requires_grad=True),
            Tensor(5.0, requires_grad=True),
        ]

    assert run(make()) == separately(make())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
def test_a_non_finite_grad_of_a_single_number_is_caught_too(bad, shape):
    bias = Tensor(np.zeros(shape), requires_grad=True)
    optimizer = SGD([bias], lr=0.1)
    bias.grad = np.full(shape, bad)

    with pytest.raises(FloatingPointError, match="parameter 0"):
        optimizer.step()
    assert bias.data.tolist() == np.zeros(shape).tolist()


@pytest.mark.parametrize(("optimizer_class", "hyperparameters"), CONFIGURATIONS)
@pytest.mark.parametrize(
    ("start", "replaced"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_data_replaced_by_another_dtype_keeps_it_and_leaves_the_others_alone(
    optimizer_class, hyperparameters, start, replaced
):
    def run(params, optimizer):
        for step in range(3):
            for p in params:
                p.grad = np.full(p.shape, 0.25 * (step + 1), dtype=start)
            optimizer.step()
            if step == 0:
                params[0].data = params[0].data.astype(replaced)
        return [(p.dtype, p.data.tolist()) for p in params]

    def make():
        return [
            Tensor(np.arange(3.0, dtype=start) + i, requires_grad=True)
            for i in range(3)
        ]

    together = make()
    alone = make()
    separately = [_one_by_one(optimizer_class, p, **hyperparameters) for p in alone]

    class Each:  # steps the per-parameter optimizers as one
        def step(self):
            for optimizer in separately:
                optimizer.step()

    expected = run(alone, Each())
    assert run(together, optimizer_class(together, **hyperparameters)) == expected
    assert [dtype for dtype, _ in expected] == [replaced, start, start]
