"""The ``tinygrad-lr`` command (also ``python -m tinygrad_lr``).

``tinygrad-lr moons`` trains logistic regression (one neuron) or an MLP on
scikit-learn's two moons and prints the loss, the accuracies and the time; with
``--plot-dir`` it also writes the loss curve and the decision boundary;
``tinygrad-lr graph`` prints the computation graph of one neuron's loss. The
defaults of ``--model logistic`` are the tutorial's experiment: ``w`` drawn by
``np.random.seed(0); np.random.rand(2)``, ``b = 0``, 200 full-batch gradient
descent steps at learning rate 0.1.

The library reports through ``logging``; this module prints the results.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from tinygrad_lr import data, nn, optim, reference
from tinygrad_lr import functional as F
from tinygrad_lr.nn.module import Module
from tinygrad_lr.tensor import Tensor, no_grad
from tinygrad_lr.train import History, fit

__all__ = [
    "MoonsRun",
    "build_parser",
    "is_tutorial_setup",
    "main",
    "optimum",
    "save_model",
    "train_moons",
    "tutorial_note",
    "write_plots",
]

PROG = "tinygrad-lr"

# Per-model defaults of the optimizer settings. The logistic ones are the tutorial's;
# the MLP ones reach >= 99% test accuracy on the default data in well under a second.
DEFAULTS = {
    "logistic": {"optimizer": "sgd", "lr": 0.1, "epochs": 200},
    "mlp": {"optimizer": "adam", "lr": 0.01, "epochs": 500},
}
DEFAULT_HIDDEN_SIZES = (16, 16)
DEFAULT_ACTIVATION = "tanh"

# What the tutorial reports, to set beside what this run measures.
TUTORIAL_TRAIN_ACCURACY = 0.82
TUTORIAL_LOSS = (0.57, 0.58)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, 2**32 - 1], got {text!r}"
        )
    return value


def _finite_float(relation: str) -> Callable[[str], float]:
    """The argparse type of a finite float > 0 (``relation=">"``) or >= 0 (``">="``)."""
    zero_allowed = relation == ">="

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number {relation} 0, got {text!r}"
            ) from None
        if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)):
            raise argparse.ArgumentTypeError(
                f"expected a finite number {relation} 0, got {text}"
            )
        return value

    return parse


def _hidden_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 16,16, got {text!r}"
        )
    return tuple(int(part) for part in parts)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tinygrad-lr`` and its ``moons`` command."""
    return _build_parsers()[0]


def _build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``tinygrad-lr`` parser and its ``moons`` sub-parser."""
    parser = _Parser(
        prog=PROG,
        description="Train and inspect tinygrad_lr models on scikit-learn's two moons.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    moons = commands.add_parser(
        "moons",
        help="train logistic regression or an MLP on the two moons",
        description=(
            "Train on scikit-learn's make_moons and print the final loss, the train"
            " and test accuracy and the time. Without options this is the tutorial's"
            " experiment: logistic regression, w from np.random.seed(0);"
            " np.random.rand(2), b = 0, 200 full-batch gradient descent steps at"
            " learning rate 0.1."
        ),
    )
    model = moons.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=["logistic", "mlp"],
        default="logistic",
        help="logistic regression as one neuron, or a multilayer perceptron"
        " (default: %(default)s)",
    )
    model.add_argument(
        "--hidden-sizes",
        type=_hidden_sizes,
        default=None,
        metavar="N,N,...",
        help="hidden layer sizes of the MLP, comma-separated (default: 16,16);"
        " only with --model mlp",
    )
    model.add_argument(
        "--activation",
        choices=["tanh", "relu"],
        default=None,
        help="activation between the MLP's layers (default: tanh); only with"
        " --model mlp",
    )
    model.add_argument(
        "--init-seed",
        type=_seed,
        default=0,
        metavar="SEED",
        help="seed of np.random.RandomState for the initial weights and the"
        " mini-batch shuffling; 0, the default, gives the tutorial's w",
    )
    training = moons.add_argument_group("training")
    training.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        default=None,
        help="sgd is plain gradient descent (default for logistic), adam is Adam"
        " (default for mlp)",
    )
    training.add_argument(
        "--lr",
        type=_finite_float(">"),
        default=None,
        help="learning rate (default: 0.1 for logistic, 0.01 for mlp)",
    )
    training.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="passes over the training set; with full batches each is one step"
        " (default: 200 for logistic, 500 for mlp)",
    )
    training.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="rows per mini-batch, at most --n-train (default: the full batch)",
    )
    dataset = moons.add_argument_group("data")
    dataset.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the dataset: train and test are drawn from"
        " np.random.RandomState(seed) (default: %(default)s)",
    )
    dataset.add_argument(
        "--n-train",
        type=_positive_int,
        default=500,
        metavar="N",
        help="training samples (default: %(default)s)",
    )
    dataset.add_argument(
        "--n-test",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="test samples (default: %(default)s)",
    )
    dataset.add_argument(
        "--noise",
        type=_finite_float(">="),
        default=0.1,
        help="standard deviation of the Gaussian noise added by make_moons"
        " (default: %(default)s)",
    )
    output = moons.add_argument_group("output")
    output.add_argument(
        "--plot-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the loss curve and the decision boundary as PNG files into DIR"
        " (created if missing; needs matplotlib)",
    )
    output.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="PATH",
        help="save the trained model to PATH (.npz) with tinygrad_lr.save;"
        " tinygrad_lr.load(PATH) rebuilds it",
    )
    output.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object on stdout instead of text",
    )
    graph = commands.add_parser(
        "graph",
        help="print the computation graph of one neuron's loss on a few samples",
        description=(
            "Build the loss of logistic regression (the tutorial's initial weights)"
            " on the first N training samples of the moons, run backward, and print"
            " the graph with every value and gradient, as a text tree or as"
            " Graphviz DOT source."
        ),
    )
    graph.add_argument(
        "--samples",
        type=_positive_int,
        default=4,
        metavar="N",
        help="rows in the batch (default: %(default)s)",
    )
    graph.add_argument(
        "--format",
        choices=["text", "dot"],
        default="text",
        help="an indented text tree, or DOT source for Graphviz (default: text)",
    )
    graph.add_argument(
        "--no-backward",
        action="store_true",
        help="draw the graph before backward, without gradients",
    )
    return parser, moons


def graph_command(args: argparse.Namespace) -> int:
    """``tinygrad-lr graph``: one neuron's loss on a few samples, as text or DOT."""
    from tinygrad_lr import graph

    moons = data.moons(n_train=max(args.samples, 500), n_test=1)
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))
    X = Tensor(moons.X_train[: args.samples], name="X")
    y = Tensor(moons.y_train[: args.samples], name="y")
    loss = F.binary_cross_entropy_with_logits(model(X), y)
    if not args.no_backward:
        loss.backward()

    names = dict(model.named_parameters())
    if args.format == "dot":
        print(graph.to_dot(loss, names=names), end="")
    else:
        print(graph.format_graph(loss, names=names))
    return 0


@dataclass
class MoonsRun:
    """The outcome of :func:`train_moons`.

    Attributes
    ----------
    model : Module
        The trained model.
    settings : dict
        Every setting of the run, defaults resolved.
    history : History
        Loss per epoch, each computed before that epoch's step.
    dataset : data.Dataset
    final_loss : float
        Training loss of the trained model (after the last step).
    train_accuracy, test_accuracy : float
    seconds : float
        Wall-clock time of the training loop.
    reference_max_diff : float or None
        max |Δparam| between the model and ``reference.train`` from the same start;
        None when the run is not plain full-batch gradient descent on logistic
        regression, which is all the reference implements.
    accuracy_after_step : list of float
        Training accuracy after each step (logistic regression only).
    """

    model: Module
    settings: dict[str, Any]
    history: History
    dataset: data.Dataset
    final_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float
    reference_max_diff: float | None = None
    accuracy_after_step: list[float] = field(default_factory=list)


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(X) == y))


def train_moons(
    *,
    model: str = "logistic",
    hidden_sizes: Sequence[int] | None = None,
    activation: str | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    init_seed: int = 0,
    n_train: int = 500,
    n_test: int = 1000,
    noise: float = 0.1,
) -> MoonsRun:
    """Train one model on the moons as ``tinygrad-lr moons`` does, without printing.

    Every argument mirrors the command-line option of the same name; None picks
    the model's default (see ``tinygrad-lr moons --help``).

    >>> run = train_moons(epochs=3)
    >>> run.settings["optimizer"], run.settings["lr"], len(run.history.loss)
    ('sgd', 0.1, 3)
    """
    if model not in DEFAULTS:
        raise ValueError(
            f"train_moons: model must be 'logistic' or 'mlp', got {model!r}"
        )
    if optimizer not in (None, "sgd", "adam"):
        raise ValueError(
            f"train_moons: optimizer must be 'sgd' or 'adam', got {optimizer!r}"
        )
    defaults = DEFAULTS[model]
    settings: dict[str, Any] = {
        "model": model,
        "optimizer": optimizer or defaults["optimizer"],
        "lr": lr if lr is not None else defaults["lr"],
        "epochs": epochs if epochs is not None else defaults["epochs"],
        "batch_size": batch_size,
        "seed": seed,
        "init_seed": init_seed,
        "n_train": n_train,
        "n_test": n_test,
        "noise": noise,
    }
    dataset = data.moons(n_train=n_train, n_test=n_test, noise=noise, seed=seed)
    X, y = dataset.X_train, dataset.y_train

    # NOTE: RandomState, not default_rng: RandomState(0).rand(2) is exactly the
    # tutorial's np.random.seed(0); np.random.rand(2).
    rng = np.random.RandomState(init_seed)
    net: nn.LogisticRegression | nn.MLP
    if model == "logistic":
        net = nn.LogisticRegression(2, rng=rng)
    else:
        sizes = list(hidden_sizes or DEFAULT_HIDDEN_SIZES)
        settings["hidden_sizes"] = sizes
        settings["activation"] = activation or DEFAULT_ACTIVATION
        net = nn.MLP([2, *sizes, 1], settings["activation"], rng=rng)
    start = net.state_dict()  # a copy, for the comparison with reference.train

    if settings["optimizer"] == "sgd":
        opt: optim.Optimizer = optim.SGD(net.parameters(), lr=settings["lr"])
    else:
        opt = optim.Adam(net.parameters(), lr=settings["lr"])

    accuracy_after_step: list[float] = []
    callbacks = []
    if model == "logistic":
        callbacks.append(
            lambda epoch, history: accuracy_after_step.append(_accuracy(net, X, y))
        )
    history = fit(
        net,
        X,
        y,
        optimizer=opt,
        epochs=settings["epochs"],
        batch_size=batch_size,
        rng=rng,
        callbacks=callbacks,
    )

    with no_grad():
        final_loss = float(
            F.binary_cross_entropy_with_logits(net(Tensor(X)), Tensor(y)).data
        )
    run = MoonsRun(
        model=net,
        settings=settings,
        history=history,
        dataset=dataset,
        final_loss=final_loss,
        train_accuracy=_accuracy(net, X, y),
        test_accuracy=_accuracy(net, dataset.X_test, dataset.y_test),
        seconds=history.seconds,
        accuracy_after_step=accuracy_after_step,
    )

    full_batch = batch_size is None or batch_size == n_train
    plain_gd = settings["optimizer"] == "sgd" and full_batch
    if isinstance(net, nn.LogisticRegression) and plain_gd:
        w, b, _ = reference.train(
            X,
            y,
            start["weight"],
            float(start["bias"]),
            lr=settings["lr"],
            steps=settings["epochs"],
        )
        run.reference_max_diff = max(
            float(np.max(np.abs(net.weight.data - w))),
            abs(float(net.bias.data) - b),
        )
    return run


def is_tutorial_setup(settings: dict[str, Any]) -> bool:
    """True when ``settings`` are the tutorial's experiment (any dataset seed)."""
    return (
        settings["model"] == "logistic"
        and settings["optimizer"] == "sgd"
        and settings["lr"] == 0.1
        and settings["epochs"] == 200
        and settings["batch_size"] in (None, settings["n_train"])
        and settings["init_seed"] == 0
        and settings["n_train"] == 500
        and settings["noise"] == 0.1
    )


def optimum(X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Loss and training accuracy of the best logistic regression on (X, y).

    Found by scikit-learn's ``LogisticRegression(C=np.inf)``, i.e. no penalty.
    """
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(C=np.inf).fit(X, y)
    w, b = classifier.coef_[0], float(classifier.intercept_[0])

    predictions = reference.predict(X, w, b)
    return reference.loss(X, y, w, b), reference.accuracy(y, predictions)


def tutorial_note(run: MoonsRun) -> dict[str, Any]:
    """Measurements that explain the tutorial's loss figure, for the default run.

    Returns the first step at which this run's loss is at most the top of the
    tutorial's range, the training accuracy at that step, and the optimum of the
    data, as JSON-ready values.
    """
    step = next(
        (k for k, loss in enumerate(run.history.loss) if loss <= TUTORIAL_LOSS[1]),
        None,
    )
    # history.loss[k] is the loss after k steps; accuracy_after_step[k - 1] too.
    accuracy = None
    if step is not None and step >= 1:
        accuracy = run.accuracy_after_step[step - 1]
    best_loss, best_accuracy = optimum(run.dataset.X_train, run.dataset.y_train)
    return {
        "tutorial_train_accuracy": TUTORIAL_TRAIN_ACCURACY,
        "tutorial_loss": list(TUTORIAL_LOSS),
        "step_loss_first_below_tutorial": step,
        "train_accuracy_at_that_step": accuracy,
        "optimum_loss": best_loss,
        "optimum_train_accuracy": best_accuracy,
    }


def _paragraph(text: str) -> str:
    return textwrap.fill(text, width=79, initial_indent="  ", subsequent_indent="  ")


def _note_text(run: MoonsRun, note: dict[str, Any]) -> str:
    """The explanation of the tutorial's figures, with this run's measurements."""
    low, high = TUTORIAL_LOSS
    reported = (
        f"The tutorial reports about {TUTORIAL_TRAIN_ACCURACY:.0%} training accuracy"
        f" (this run: {run.train_accuracy:.1%}) and a loss of about {low}-{high}"
        f" (this run: {run.final_loss:.4f})."
    )
    step = note["step_loss_first_below_tutorial"]
    accuracy = note["train_accuracy_at_that_step"]
    path = ""
    if step is not None and accuracy is not None:
        path = (
            f" On this data the loss is {run.history.loss[step]:.4f} after {step}"
            f" steps, when the training accuracy is only {accuracy:.1%}."
        )
    best = (
        f" The best any weights do here is {note['optimum_loss']:.4f} at"
        f" {note['optimum_train_accuracy']:.1%} training accuracy (scikit-learn"
        f" LogisticRegression(C=inf)), so more steps only take the loss further"
        f" from {low}."
    )
    verdict = (
        "So the loss figure does not come out of this setup (make_moons with noise"
        " 0.1 and 500 samples, w from np.random.seed(0); np.random.rand(2), b = 0,"
        " 200 full-batch steps at lr 0.1). It must come from different data, a"
        " different start or different code, and these numbers cannot tell which."
    )
    return "\n".join(
        ["About the tutorial's figures:", _paragraph(reported + path + best),
         _paragraph(verdict)]
    )  # fmt: skip


def _describe(settings: dict[str, Any]) -> list[str]:
    if settings["model"] == "logistic":
        model = "logistic regression (one neuron)"
    else:
        sizes = ", ".join(str(size) for size in [2, *settings["hidden_sizes"], 1])
        model = f"MLP([{sizes}]) with {settings['activation']}"
    batch = settings["batch_size"]
    batches = "full batch" if batch is None else f"mini-batches of {batch}"
    return [
        f"model:    {model}",
        f"training: {settings['optimizer']} lr={settings['lr']:g},"
        f" {settings['epochs']} epochs, {batches}, init seed {settings['init_seed']}",
        f"data:     make_moons noise={settings['noise']:g}, {settings['n_train']}"
        f" train / {settings['n_test']} test, seed {settings['seed']}",
    ]


def write_plots(run: MoonsRun, plot_dir: Path) -> list[Path]:
    """Write the loss curve and the decision boundary of ``run`` into ``plot_dir``."""
    from tinygrad_lr import plot

    plot_dir.mkdir(parents=True, exist_ok=True)
    name = run.settings["model"]
    title = "Logistic regression" if name == "logistic" else "MLP"
    loss = plot.plot_loss(
        run.history,
        plot_dir / f"{name}_loss.png",
        title=f"{title}: training loss per epoch",
        log_scale=name == "mlp",
    )
    boundary = plot.plot_decision_boundary(
        run.model,
        run.dataset.X_train,
        run.dataset.y_train,
        plot_dir / f"{name}_decision_boundary.png",
        title=f"{title}: test accuracy {run.test_accuracy:.1%}",
    )
    return [loss, boundary]


def save_model(run: MoonsRun, path: Path) -> Path:
    """Save the trained model of ``run`` with :func:`tinygrad_lr.save`; the parent
    directory is created if missing. ``tinygrad_lr.load(path)`` rebuilds it."""
    from tinygrad_lr.serialize import save

    path.parent.mkdir(parents=True, exist_ok=True)
    save(run.model, path)
    return path


def _results(
    run: MoonsRun, note: dict[str, Any] | None, plots: list[Path], saved: Path | None
) -> dict[str, Any]:
    """Everything the run measured, as JSON-ready values."""
    return {
        "settings": run.settings,
        "final_loss": run.final_loss,
        "train_accuracy": run.train_accuracy,
        "test_accuracy": run.test_accuracy,
        "seconds": run.seconds,
        "loss_history": run.history.loss,
        "reference_max_abs_param_diff": run.reference_max_diff,
        "tutorial": note,
        "plots": [str(path) for path in plots],
        "saved": None if saved is None else str(saved),
    }


def _report(
    run: MoonsRun, note: dict[str, Any] | None, plots: list[Path], saved: Path | None
) -> str:
    """The human-readable account of a run."""
    lines = [f"{PROG} moons", *_describe(run.settings), ""]
    lines += [
        f"final loss      {run.final_loss:.4g}",
        f"train accuracy  {run.train_accuracy:.3f}",
        f"test accuracy   {run.test_accuracy:.3f}",
        f"time            {run.seconds:.2f} s (training loop)",
    ]
    if run.reference_max_diff is not None:
        lines += [
            "",
            "reference.train (the hand-derived gradients in NumPy), same start and"
            " steps:",
            f"  max |Δparam| = {run.reference_max_diff:.1e}",
        ]
    elif run.settings["model"] == "logistic":
        lines += [
            "",
            "reference.train is full-batch gradient descent: not compared with"
            f" {run.settings['optimizer']} on these batches.",
        ]
    if note is not None:
        lines += ["", _note_text(run, note)]
    elif run.settings["model"] == "logistic":
        lines += [
            "",
            "The tutorial's figures (82% train accuracy, loss 0.57-0.58) are compared"
            " with the default settings only.",
        ]
    if plots:
        lines += ["", "plots:", *(f"  {path}" for path in plots)]
    if saved is not None:
        lines += ["", f"model saved to {saved} (tinygrad_lr.load reads it back)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tinygrad-lr`` with ``argv`` (default: ``sys.argv[1:]``); return the
    exit status."""
    parser, moons = _build_parsers()
    args = parser.parse_args(argv)
    if args.command == "graph":
        return graph_command(args)
    if args.model != "mlp":
        for option, value in (
            ("--hidden-sizes", args.hidden_sizes),
            ("--activation", args.activation),
        ):
            if value is not None:
                moons.error(f"{option} applies to --model mlp only")
    if args.batch_size is not None and args.batch_size > args.n_train:
        moons.error(
            f"--batch-size must be at most --n-train ({args.n_train}), got"
            f" {args.batch_size}"
        )

    try:
        run = train_moons(
            model=args.model,
            hidden_sizes=args.hidden_sizes,
            activation=args.activation,
            optimizer=args.optimizer,
            lr=args.lr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            init_seed=args.init_seed,
            n_train=args.n_train,
            n_test=args.n_test,
            noise=args.noise,
        )
        note = tutorial_note(run) if is_tutorial_setup(run.settings) else None
        plots = [] if args.plot_dir is None else write_plots(run, args.plot_dir)
        saved = None if args.save is None else save_model(run, args.save)
    except (ValueError, FloatingPointError, ImportError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1

    if args.json:
        print(json.dumps(_results(run, note, plots, saved), indent=2))
    else:
        print(_report(run, note, plots, saved))
    return 0
