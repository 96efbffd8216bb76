"""train.fit: equivalence with hand-written loops, batching, history, stopping."""

import io
import logging
import sys

import numpy as np
import pytest

from tinygrad_lr import DTypeError, Tensor, data, nn, reference
from tinygrad_lr import functional as F
from tinygrad_lr.optim import SGD, Adam
from tinygrad_lr.train import History, fit


@pytest.fixture(scope="module")
def moons():
    return data.moons()


def _weights(model):
    return [p.data.tobytes() for p in model.parameters()]


def _fit_moons(moons, model, optimizer_class=SGD, lr=0.1, **kwargs):
    """Train ``model`` with ``fit`` on the training moons and a new optimizer."""
    return fit(
        model,
        moons.X_train,
        moons.y_train,
        optimizer=optimizer_class(model.parameters(), lr=lr),
        **kwargs,
    )


def _hand_loop(model, optimizer, batches_per_epoch, epochs):
    """The loop fit() is meant to be: zero_grad, forward, loss, backward, step."""
    losses = []
    for epoch in range(epochs):
        total, count = 0.0, 0
        for X_batch, y_batch in batches_per_epoch(epoch):
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(
                model(Tensor(X_batch)), Tensor(y_batch)
            )
            loss.backward()
            optimizer.step()
            total += float(loss.data) * len(y_batch)
            count += len(y_batch)
        losses.append(total / count)
    return losses


# ---------------------------------------------------------------------------
# equivalence


@pytest.mark.parametrize("optimizer_class", [SGD, Adam])
def test_full_batch_fit_equals_a_hand_written_loop_bitwise(moons, optimizer_class):
    X, y = moons.X_train, moons.y_train
    fitted, by_hand = nn.MLP([2, 8, 1], rng=3), nn.MLP([2, 8, 1], rng=3)

    history = fit(
        fitted,
        X,
        y,
        optimizer=optimizer_class(fitted.parameters(), lr=0.05),
        epochs=15,
    )
    losses = _hand_loop(
        by_hand,
        optimizer_class(by_hand.parameters(), lr=0.05),
        lambda epoch: [(X, y)],
        15,
    )

    assert _weights(fitted) == _weights(by_hand)
    assert history.loss == losses


def test_logistic_regression_fit_reproduces_the_numpy_reference(moons):
    X, y = moons.X_train, moons.y_train
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))
    w0 = model.weight.data.copy()

    history = fit(model, X, y, optimizer=SGD(model.parameters(), lr=0.1), epochs=200)

    w, b, losses = reference.train(X, y, w0, 0.0, lr=0.1, steps=200)
    np.testing.assert_allclose(model.weight.data, w, rtol=1e-12)
    np.testing.assert_allclose(float(model.bias.data), b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history.loss, losses[:-1], rtol=1e-12)
    # The tutorial's experiment: about 82% training accuracy (see the README).
    accuracy = np.mean(model.predict(X) == y)
    assert 0.80 <= accuracy <= 0.84


def test_mini_batches_equal_a_hand_loop_over_data_batches(moons):
    X, y = moons.X_train, moons.y_train
    fitted, by_hand = nn.MLP([2, 4, 1], rng=1), nn.MLP([2, 4, 1], rng=1)
    generator = np.random.default_rng(11)

    history = fit(
        fitted,
        X,
        y,
        optimizer=SGD(fitted.parameters(), lr=0.1, momentum=0.9),
        epochs=4,
        batch_size=64,
        rng=11,
    )
    losses = _hand_loop(
        by_hand,
        SGD(by_hand.parameters(), lr=0.1, momentum=0.9),
        lambda epoch: data.batches(X, y, 64, rng=generator),
        4,
    )

    assert _weights(fitted) == _weights(by_hand)
    assert history.loss == losses


def test_mini_batch_training_is_reproducible_from_the_seed(moons):
    def train(seed):
        model = nn.MLP([2, 4, 1], rng=0)
        history = _fit_moons(
            moons,
            model,
            optimizer_class=Adam,
            lr=0.01,
            epochs=3,
            batch_size=50,
            rng=seed,
        )
        return _weights(model), history.loss

    assert train(5) == train(5)
    assert train(5) != train(6)


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    # 5 rows in batches of 2, 2 and 1: the last batch weighs half as much.
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    model = nn.LogisticRegression(1, rng=0)
    optimizer = SGD(model.parameters(), lr=1e-300)  # steps too small to matter

    history = fit(model, X, y, optimizer=optimizer, epochs=1, batch_size=2, rng=0)

    per_row = F.binary_cross_entropy_with_logits(model(X), y, reduction="none")
    np.testing.assert_allclose(history.loss[0], per_row.data.mean(), rtol=1e-15)


# ---------------------------------------------------------------------------
# the MLP on the moons


def test_the_mlp_separates_the_moons_with_adam(moons):
    model = nn.MLP([2, 16, 16, 1], rng=0)

    history = _fit_moons(moons, model, optimizer_class=Adam, lr=0.02, epochs=500)

    test_accuracy = np.mean(model.predict(moons.X_test) == moons.y_test)
    assert test_accuracy >= 0.99
    assert history.loss[-1] < 0.01


# ---------------------------------------------------------------------------
# history and validation


@pytest.mark.parametrize("batch_size", [None, 100])
def test_history_has_one_entry_per_epoch(moons, batch_size):
    model = nn.LogisticRegression(2, rng=0)

    history = _fit_moons(moons, model, epochs=7, batch_size=batch_size, rng=0)

    assert isinstance(history, History)
    assert len(history.loss) == 7
    assert history.val_loss == []
    assert history.val_accuracy == []


def test_validation_metrics_are_those_of_the_model_after_each_epoch(moons):
    model = nn.MLP([2, 8, 1], rng=0)
    seen = []

    def record(epoch, history):
        logits = model(moons.X_test).data
        seen.append(
            (
                float(F.binary_cross_entropy_with_logits(logits, moons.y_test).data),
                float(np.mean((logits > 0) == moons.y_test)),
            )
        )

    history = _fit_moons(
        moons,
        model,
        optimizer_class=Adam,
        lr=0.05,
        epochs=6,
        validation_data=(moons.X_test, moons.y_test),
        callbacks=[record],
    )

    assert len(history.val_loss) == len(history.val_accuracy) == 6
    assert list(zip(history.val_loss, history.val_accuracy, strict=True)) == seen
    assert history.val_accuracy[-1] > history.val_accuracy[0]


def test_validation_data_is_checked_like_the_training_data(moons):
    model = nn.LogisticRegression(2, rng=0)

    with pytest.raises(ValueError, match=r"fit \(validation_data\): X has 3 samples"):
        _fit_moons(
            moons, model, epochs=1, validation_data=(np.ones((3, 2)), np.ones(2))
        )


def test_a_nan_in_the_validation_data_raises_before_training(moons):
    model = nn.LogisticRegression(2, rng=0)
    before = _weights(model)
    X_val = moons.X_test.copy()
    X_val[7, 1] = np.nan

    with pytest.raises(
        ValueError,
        match=r"fit \(validation_data\): X contains NaN \(first at row 7, column 1\)",
    ):
        _fit_moons(moons, model, epochs=1, validation_data=(X_val, moons.y_test))

    assert _weights(model) == before


# ---------------------------------------------------------------------------
# errors


def test_a_huge_learning_rate_on_the_moons_mlp_diverges_but_stays_finite(moons):
    # tanh bounds the hidden units and the loss is computed from logits, so
    # lr=1e6 gives enormous but finite losses rather than NaN.
    model = nn.MLP([2, 16, 16, 1], rng=0)

    with pytest.warns(RuntimeWarning, match=r"in epoch 2; training is diverging"):
        history = _fit_moons(moons, model, lr=1e6, epochs=20)

    assert np.isfinite(history.loss).all()
    assert min(history.loss[1:]) > 1000.0


def test_a_run_diverging_within_its_first_mini_batch_epoch_warns(moons):
    model = nn.MLP([2, 16, 16, 1], rng=0)

    with pytest.warns(RuntimeWarning, match=r"in epoch 1; training is diverging"):
        _fit_moons(moons, model, lr=1e6, epochs=1, batch_size=32, rng=0)


def test_the_divergence_warning_needs_a_loss_far_above_chance(moons):
    # Scaled losses of about 0.0007, 0.35 and 140: the second is 500 times the
    # first but still below chance (log 2), so only the third warns.
    scales = iter([0.001, 0.5, 200.0])

    def scaled_loss(logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets) * next(scales)

    model = nn.LogisticRegression(2, rng=0)
    with pytest.warns(RuntimeWarning, match=r"diverging") as caught:
        history = _fit_moons(moons, model, lr=1e-9, epochs=3, loss_fn=scaled_loss)

    assert len(caught) == 1 and "in epoch 3;" in str(caught[0].message)
    assert history.loss[1] > 100 * history.loss[0]


def test_a_non_finite_model_output_raises_naming_the_epoch(moons):
    # NOTE: the moons MLP with lr=1e6 does not overflow: tanh saturates and the
    # loss grows only linearly in the logits. Features of size 1e160 do.
    model = nn.LogisticRegression(2, rng=0)
    optimizer = SGD(model.parameters(), lr=1e6)

    with (
        np.errstate(over="ignore"),
        pytest.raises(
            FloatingPointError,
            match=r"fit: the model's output became NaN or inf at epoch 2, step 2; try"
            " a smaller learning rate",
        ),
    ):
        fit(model, moons.X_train * 1e160, moons.y_train, optimizer=optimizer, epochs=5)

    assert np.isfinite(model.weight.data).all()


def test_a_non_finite_loss_raises_naming_the_epoch_and_step(moons):
    model = nn.LogisticRegression(2, rng=0)
    calls = []

    def loss_fn(logits, targets):
        calls.append(1)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        return loss * (np.inf if len(calls) == 3 else 1.0)

    with pytest.raises(
        FloatingPointError, match=r"loss became non-finite \(inf\) at epoch 2, step 3"
    ):
        _fit_moons(moons, model, epochs=3, batch_size=250, loss_fn=loss_fn, rng=0)


def test_a_non_finite_gradient_raises_naming_the_epoch_and_leaves_weights(moons):
    # Four rows of 1.5e308 give a finite summed loss but an infinite gradient.
    model = nn.LogisticRegression(1, rng=0)
    model.weight.data = np.array([1e-308])
    X, y = np.full((4, 1), 1.5e308), np.zeros(4)

    def summed(logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")

    with (
        np.errstate(over="ignore"),
        pytest.raises(
            FloatingPointError, match=r"fit: epoch 1, step 1: SGD.step: parameter 0"
        ) as info,
    ):
        fit(
            model,
            X,
            y,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=2,
            loss_fn=summed,
        )

    assert isinstance(info.value.__cause__, FloatingPointError)
    assert model.weight.data.tolist() == [1e-308]


@pytest.mark.parametrize("epochs", [0, -1, 2.5, True, None])
def test_invalid_epochs_raise_naming_the_value(epochs):
    model = nn.LogisticRegression(1, rng=0)

    with pytest.raises(
        ValueError, match=f"fit: epochs must be a positive integer, got {epochs}"
    ):
        fit(
            model,
            [[0.0], [1.0]],
            [0, 1],
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=epochs,
        )


@pytest.mark.parametrize(
    ("batch_size", "match"),
    [
        (0, "batch_size must be a positive integer, got 0"),
        (1.5, "batch_size must be a positive integer, got 1.5"),
        (3, r"batch_size must be <= n_samples \(2\), got 3"),
    ],
)
def test_invalid_batch_sizes_raise_naming_the_value(batch_size, match):
    model = nn.LogisticRegression(1, rng=0)

    with pytest.raises(ValueError, match=f"fit: {match}"):
        fit(
            model,
            [[0.0], [1.0]],
            [0, 1],
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=batch_size,
        )


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        ([0.0, 1.0], [0, 1], r"expected 2-D X of shape \(n_samples, n_features\)"),
        ([[0.0], [1.0]], [[0], [1]], r"expected 1-D y of shape \(n_samples,\)"),
        ([[0.0], [1.0]], [0, 1, 1], "X has 2 samples but y has 3"),
        (
            np.zeros((0, 1)),
            [],
            r"X has 0 samples \(shape \(0, 1\)\); at least 1 required",
        ),
        ([[0.0], [1.0]], [0, np.nan], "y contains NaN or infinity"),
        ([[0.0], [np.nan]], [0, 1], r"X contains NaN \(first at row 1, column 0\)"),
        ([[np.inf], [0.0]], [0, 1], r"X contains infinity \(first at row 0, column"),
    ],
)
def test_bad_data_raises_before_training(X, y, match):
    model = nn.LogisticRegression(1, rng=0)
    before = _weights(model)

    with pytest.raises(ValueError, match=f"fit: {match}"):
        fit(model, X, y, optimizer=SGD(model.parameters(), lr=0.1), epochs=1)

    assert _weights(model) == before


@pytest.mark.parametrize("batch_size", [None, 10, 1])
def test_a_nan_in_a_late_batch_is_named_by_its_row_in_X_before_any_step(batch_size):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(float)
    X[15, 1] = np.nan
    model = nn.LogisticRegression(2, rng=0)
    before = _weights(model)

    with pytest.raises(
        ValueError, match=r"X contains NaN \(first at row 15, column 1\)"
    ):
        fit(
            model,
            X,
            y,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=batch_size,
            rng=0,
        )

    assert _weights(model) == before


def test_rows_of_an_array_like_without_a_dtype_are_checked_as_they_are_read(moons):
    X = _RecordingRows(np.full((20, 2), "a"))
    model = nn.LogisticRegression(2, rng=0)

    with pytest.raises(DTypeError, match=r"fit: X has dtype <U1; expected real"):
        fit(model, X, np.zeros(20), optimizer=SGD(model.parameters(), lr=0.1), epochs=1)


# ---------------------------------------------------------------------------
# data that does not live in memory


class _RecordingRows:
    """An array-like over ``array`` that records how many rows each read takes."""

    def __init__(self, array):
        self.array, self.reads = array, []
        self.shape = array.shape

    def __len__(self):
        return len(self.array)

    def __getitem__(self, rows):
        out = self.array[rows]
        self.reads.append(len(out))
        return out


def test_a_memmap_streams_and_gives_the_in_memory_result(moons, tmp_path):
    X, y = moons.X_train, moons.y_train
    mapped = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="w+", shape=X.shape)
    mapped[:] = X
    mapped.flush()
    readonly = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="r", shape=X.shape)

    results = []
    for source in (X, readonly):
        for batch_size in (None, 64):
            model = nn.MLP([2, 4, 1], rng=0)
            fit(
                model,
                source,
                y,
                optimizer=Adam(model.parameters(), lr=0.01),
                epochs=3,
                batch_size=batch_size,
                rng=0,
            )
            results.append(_weights(model))

    assert results[0] == results[2]
    assert results[1] == results[3]


def test_mini_batch_fit_reads_a_bounded_number_of_rows_at_a_time(moons):
    X = _RecordingRows(np.tile(moons.X_train, (6, 1)))  # 3000 rows
    model = nn.LogisticRegression(2, rng=0)

    fit(
        model,
        X,
        np.tile(moons.y_train, 6),
        optimizer=SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=64,
        rng=0,
    )

    # First the check of every row, 1024 rows at a time, then the batches.
    assert X.reads[:3] == [1024, 1024, 952]
    assert max(X.reads[3:]) == 64
    assert sum(X.reads[3:]) == 2 * 3000


# ---------------------------------------------------------------------------
# callbacks, progress and logging


def test_a_callback_returning_true_stops_training_after_that_epoch(moons, caplog):
    model = nn.LogisticRegression(2, rng=0)
    seen = []

    def watch(epoch, history):
        seen.append((epoch, len(history.loss)))

    def stop_at_three(epoch, history):
        return epoch == 3

    with caplog.at_level(logging.INFO, logger="tinygrad_lr.train"):
        history = _fit_moons(moons, model, epochs=10, callbacks=[stop_at_three, watch])

    assert len(history.loss) == 3
    assert seen == [(1, 1), (2, 2), (3, 3)]
    assert "a callback stopped training after epoch 3" in caplog.text


def test_callbacks_returning_falsy_values_do_not_stop_training(moons):
    model = nn.LogisticRegression(2, rng=0)

    history = _fit_moons(
        moons,
        model,
        epochs=4,
        callbacks=[lambda epoch, history: None, lambda epoch, history: False],
    )

    assert len(history.loss) == 4


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _fit_30_epochs(moons, **kwargs):
    _fit_moons(moons, nn.LogisticRegression(2, rng=0), epochs=30, **kwargs)


def test_no_progress_bar_when_stderr_is_not_a_terminal(moons, capsys):
    _fit_30_epochs(moons)

    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_progress_bar_when_forced_even_without_a_terminal(moons, capsys):
    _fit_30_epochs(moons, progress=True)

    err = capsys.readouterr().err
    assert err.startswith("\r[")
    assert "] epoch 30/30 loss " in err
    assert err.endswith("\n")


def test_progress_bar_by_default_on_a_terminal_and_off_when_disabled(
    moons, monkeypatch
):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    _fit_30_epochs(moons)
    shown = terminal.getvalue()
    terminal.truncate(0)
    _fit_30_epochs(moons, progress=False)

    assert "[##############################] epoch 30/30" in shown
    assert terminal.getvalue() == ""
