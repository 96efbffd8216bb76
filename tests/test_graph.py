"""The text tree and the DOT source of computation graphs."""

import io
import re
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor, nn
from tinygrad_lr.graph import format_graph, show, summarize, to_dot


def small_graph() -> tuple[Tensor, Tensor, Tensor]:
    """(x * w + b).sum() with values simple enough to check by hand."""
    x = Tensor([1.0, 2.0], name="x")
    w = Tensor([3.0, -1.0], requires_grad=True, name="w")
    b = Tensor(0.5, requires_grad=True, name="b")
    return (x * w + b).sum(), w, b


def chain(depth: int) -> tuple[Tensor, Tensor]:
    x = Tensor([1.0], requires_grad=True)
    out = x
    for _ in range(depth):
        out = out * 1.0001
    return out.sum(), x


# ---------------------------------------------------------------- text view


def test_text_view_of_a_small_graph_matches_the_tree_written_by_hand() -> None:
    loss, _, _ = small_graph()

    assert format_graph(loss) == (
        "sum  ()  value 2\n"
        "└── add  (2,)  value [3.5, -1.5]\n"
        "    ├── mul  (2,)  value [3, -2]\n"
        "    │   ├── x (constant)  (2,)  value [1, 2]\n"
        "    │   └── w (leaf)  (2,)  value [3, -1]\n"
        "    └── b (leaf)  ()  value 0.5"
    )


def test_gradients_appear_only_after_backward() -> None:
    loss, _, _ = small_graph()
    assert "grad" not in format_graph(loss)

    loss.backward()

    assert format_graph(loss) == (
        "sum  ()  value 2  grad 1\n"
        "└── add  (2,)  value [3.5, -1.5]  grad [1, 1]\n"
        "    ├── mul  (2,)  value [3, -2]  grad [1, 1]\n"
        "    │   ├── x (constant)  (2,)  value [1, 2]\n"
        "    │   └── w (leaf)  (2,)  value [3, -1]  grad [1, 2]\n"
        "    └── b (leaf)  ()  value 0.5  grad 2"
    )


def test_one_neuron_graph_reads_from_loss_down_to_weights() -> None:
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))
    X = Tensor(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), name="X")
    y = Tensor([1.0, 0.0, 1.0], name="y")
    loss = F.binary_cross_entropy_with_logits(model(X), y)

    text = format_graph(loss, names=model.named_parameters())
    labels = [
        re.sub(r"^[│├└─ ]*", "", line).split("  ")[0] for line in text.split("\n")
    ]

    assert labels == [
        "binary_cross_entropy_with_logits",
        "add",
        "matmul",
        "X (constant)",
        "weight (leaf)",
        "bias (leaf)",
        "y (constant)",
    ]


def test_a_reused_tensor_is_shown_once_and_then_referred_to_by_its_tag() -> None:
    x = Tensor([2.0, 3.0], requires_grad=True, name="x")

    text = format_graph(x * x)

    assert text == (
        "mul  (2,)  value [4, 9]\n"
        "├── x (leaf) #1  (2,)  value [2, 3]\n"
        "└── #1 (x, shown above)"
    )


def test_the_shared_node_of_a_diamond_and_its_inputs_are_drawn_once() -> None:
    x = Tensor([0.0, 1.0], requires_grad=True)
    a = x.exp()
    d = (a * 2.0) * (a + 1.0)

    lines = format_graph(d).split("\n")

    assert sum("exp #1" in line for line in lines) == 1
    assert sum("leaf" in line for line in lines) == 1
    assert sum("#1 (shown above)" in line for line in lines) == 1
    assert len(lines) == 8


def test_float32_tensors_show_their_dtype_and_float64_ones_do_not() -> None:
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = Tensor([1.0, 2.0], requires_grad=True)

    assert format_graph(x) == "leaf  (2,)  float32  value [1, 2]"
    assert format_graph(y) == "leaf  (2,)  value [1, 2]"


def test_large_tensors_are_summarised_by_min_mean_and_max() -> None:
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)

    assert format_graph(x) == "leaf  (3, 4)  value min 0  mean 5.5  max 11"


def test_summary_counts_nans_and_describes_empty_and_all_nan_arrays() -> None:
    assert summarize(np.array([np.nan, 1.0, 2.0, 3.0, 4.0])) == (
        "min 1  mean 2.5  max 4  (1 NaN)"
    )
    assert summarize(np.full(5, np.nan)) == "all NaN (5)"
    assert summarize(np.zeros((0, 3))) == "empty"
    assert summarize(np.array([np.inf, -np.inf, 0.0, 1.0, 2.0])) == (
        "min -inf  mean nan  max inf"
    )


def test_a_chain_of_10000_ops_formats_without_recursion_and_is_cut_at_max_depth() -> (
    None
):
    loss, _ = chain(10_000)
    loss.backward()

    lines = format_graph(loss, max_depth=5).split("\n")

    # sum, 5 levels of mul, the cut below the 5th, and the constants of the first 4
    assert lines[0].startswith("sum  ()")
    assert sum(line.lstrip("│├└─ ").startswith("mul") for line in lines) == 5
    deeper = [line for line in lines if "deeper than" in line]
    assert deeper == [" " * 4 + "│   " * 4 + "└── … 2 input(s) deeper than max_depth=5"]
    assert len(lines) == 1 + 5 + 1 + 4


def test_without_max_depth_a_chain_deeper_than_the_recursion_limit_is_drawn_whole() -> (
    None
):
    loss, _ = chain(1500)

    lines = format_graph(loss, max_depth=None).split("\n")

    assert sum("mul" in line for line in lines) == 1500
    assert sum(line.lstrip("│├└─ ").startswith("leaf  (1,)") for line in lines) == 1
    assert sum("constant" in line for line in lines) == 1500


def test_show_writes_the_text_view_and_a_newline_to_the_given_stream() -> None:
    loss, _, _ = small_graph()
    stream = io.StringIO()

    show(loss, stream)

    assert stream.getvalue() == format_graph(loss) + "\n"


def test_show_writes_to_standard_output_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    show(Tensor([1.0]))

    assert capsys.readouterr().out == "constant  (1,)  value [1]\n"


# ---------------------------------------------------------------- DOT


def test_dot_source_has_one_node_per_tensor_and_one_edge_per_op_input() -> None:
    loss, _, _ = small_graph()
    loss.backward()

    dot = to_dot(loss)
    node_lines = [line for line in dot.split("\n") if re.match(r"  n\d+ \[", line)]
    edge_lines = [line for line in dot.split("\n") if " -> " in line]

    assert dot.startswith("digraph tinygrad_lr {\n")
    assert dot.endswith("}\n")
    assert dot.count("{") == dot.count("}") == 1
    # sum, add, mul, x, w, b
    assert len(node_lines) == 6
    # sum <- add; add <- mul, b; mul <- x, w
    assert len(edge_lines) == 5
    assert 'label="w (leaf)\\n(2,)\\nvalue [3, -1]\\ngrad [1, 2]", shape=box' in dot
    assert 'label="x (constant)\\n(2,)\\nvalue [1, 2]", shape=box, style=dashed' in dot


def test_dot_draws_a_reused_input_once_with_one_edge_per_use() -> None:
    x = Tensor([2.0], requires_grad=True)

    dot = to_dot(x * x)

    assert len(re.findall(r"^  n\d+ \[", dot, flags=re.MULTILINE)) == 2
    assert dot.count("n1 -> n0;") == 2


def test_dot_escapes_quotes_backslashes_and_newlines_in_labels() -> None:
    x = Tensor([1.0], requires_grad=True, name='say "hi"\\n')

    dot = to_dot(x)

    assert 'label="say \\"hi\\"\\\\n (leaf)\\n(1,)' in dot
    # every quote inside a label is escaped, so quotes pair up on each node line
    node_line = next(line for line in dot.split("\n") if line.startswith("  n0"))
    assert len(re.findall(r'(?<!\\)"', node_line)) == 2


def test_dot_of_a_chain_of_10000_ops_needs_no_recursion() -> None:
    loss, _ = chain(10_000)

    dot = to_dot(loss)

    # sum + 10 000 mul + 10 000 constants + the leaf; one edge per op input
    assert len(re.findall(r"^  n\d+ \[", dot, flags=re.MULTILINE)) == 20_002
    assert dot.count(" -> ") == 20_001


# ---------------------------------------------------------------- errors


def test_format_graph_rejects_a_non_tensor() -> None:
    with pytest.raises(TypeError, match="format_graph: tensor must be a Tensor, got"):
        format_graph(np.ones(2))  # type: ignore[arg-type]


def test_to_dot_rejects_a_non_tensor() -> None:
    with pytest.raises(TypeError, match="to_dot: tensor must be a Tensor, got list"):
        to_dot([1.0])  # type: ignore[arg-type]


@pytest.mark.parametrize("max_depth", [-1, 2.5, True])
def test_format_graph_rejects_a_bad_max_depth(max_depth: object) -> None:
    with pytest.raises(ValueError, match="format_graph: max_depth must be an int >= 0"):
        format_graph(Tensor([1.0]), max_depth=max_depth)  # type: ignore[arg-type]


def test_names_must_map_to_tensors() -> None:
    with pytest.raises(TypeError, match="names must map labels to Tensors; 'w' maps"):
        format_graph(Tensor([1.0]), names={"w": np.ones(1)})  # type: ignore[dict-item]


# ---------------------------------------------------------------- the CLI


def test_cli_graph_prints_the_one_neuron_tree_with_gradients(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tinygrad_lr import cli

    status = cli.main(["graph", "--samples", "3"])

    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert status == 0
    assert lines[0].startswith("binary_cross_entropy_with_logits  ()  value ")
    assert lines[0].endswith("  grad 1")
    assert "weight (leaf)  (2,)  value [0.5488, 0.7152]  grad [" in lines[4]
    assert lines[5].startswith("│   └── bias (leaf)  ()  value 0  grad ")
    assert lines[6].startswith("└── y (constant)  (3,)  value [")
    assert len(lines) == 7


def test_cli_graph_prints_dot_source_without_gradients_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tinygrad_lr import cli

    status = cli.main(["graph", "--format", "dot", "--no-backward"])

    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("digraph tinygrad_lr {\n") and out.endswith("}\n")
    assert "\\ngrad " not in out
    assert out.count(" -> ") == 6


def test_the_graph_module_comes_with_import_tinygrad_lr() -> None:
    # A fresh interpreter: in this one the tests have imported tinygrad_lr.graph.
    code = "import tinygrad_lr; print(tinygrad_lr.graph.format_graph.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "format_graph", result.stderr
