"""Every code example in docs/ runs, and prints what the page says it prints.

The rule for the markdown pages: the ```python blocks of one page run in order in
one namespace, like the cells of a notebook. A ```text block that follows a python
block (with nothing but blank lines or prose in between and no other code block)
is that block's expected standard output, compared line by line with trailing
spaces ignored. Other fenced blocks (```console, ```dot, ```math) are not run.

Each page runs in a fresh interpreter with warnings as errors, so a page that
registers an op of its own leaves the rest of the suite untouched.
"""

import contextlib
import io
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), DOCS.parent / "README.md"]

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    language: str
    code: str
    line: int
    expected: str | None = None


def parse(text: str) -> list[Block]:
    """The python blocks of a page, each with the text block that follows it."""
    blocks: list[Block] = []
    previous: Block | None = None
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if language == "python":
            previous = Block(language, body, line)
            blocks.append(previous)
            continue
        if language == "text" and previous is not None and previous.expected is None:
            previous.expected = body
        previous = None
    return blocks


def run_page(text: str, where: str) -> None:
    """Run the python blocks of one page; raise AssertionError on the first failure."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in parse(text):
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout):
                exec(compile(block.code, f"{where}:{block.line}", "exec"), namespace)
        except Exception:
            raise AssertionError(
                f"{where}: the python block at line {block.line} raised\n"
                + traceback.format_exc()
            ) from None
        if block.expected is None:
            continue
        got = [line.rstrip() for line in stdout.getvalue().rstrip("\n").split("\n")]
        want = [line.rstrip() for line in block.expected.rstrip("\n").split("\n")]
        if got != want:
            raise AssertionError(
                f"{where}: the python block at line {block.line} printed\n"
                + "\n".join(got)
                + "\nbut the page says\n"
                + "\n".join(want)
            )


def test_the_four_guides_are_there() -> None:
    names = {page.name for page in PAGES}

    assert {
        "logistic-regression.md",
        "backward.md",
        "numerics.md",
        "extending.md",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_python_block_of_the_page_runs_and_prints_what_it_shows(
    page: Path,
) -> None:
    text = page.read_text(encoding="utf-8")
    assert parse(text), f"{page.name} has no python example"

    result = subprocess.run(
        [sys.executable, "-W", "error", __file__, str(page)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=page.parent.parent,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_relative_links_of_the_page_point_to_files_that_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)

    missing = [t for t in targets if not (page.parent / t).exists()]

    assert missing == []


def test_the_custom_op_example_checks_its_op_and_separates_the_moons(
    tmp_path: Path,
) -> None:
    example = DOCS.parent / "examples" / "custom_op.py"

    result = subprocess.run(
        [sys.executable, "-W", "error", str(example), "--examples", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "check_op: forward equals NumPy" in out
    assert "on 20 drawn shapes, values and slopes each" in out
    assert "sum(leaky_relu(x, 0.2) * x) at [-2.  -0.5  0.5  3. ] agrees" in out
    assert "own forward is forgetful_leaky_relu" in out
    accuracy = re.search(r"^  test accuracy   (\d\.\d{3})$", out, flags=re.MULTILINE)
    assert accuracy is not None, out
    assert float(accuracy.group(1)) >= 0.99


# ---------------------------------------------------------------- the runner


def test_a_block_that_raises_fails_the_page() -> None:
    page = "intro\n```python\nx = 1\n```\n\n```python\nraise ValueError('boom')\n```\n"

    with pytest.raises(AssertionError, match="line 6 raised"):
        run_page(page, "page.md")


def test_a_block_that_prints_something_else_fails_the_page() -> None:
    page = "```python\nprint(1 + 1)\n```\n\nIt prints\n\n```text\n3\n```\n"

    with pytest.raises(AssertionError, match="printed\n2\nbut the page says\n3"):
        run_page(page, "page.md")


def test_blocks_share_one_namespace_and_matching_output_passes() -> None:
    page = (
        "```python\nx = 20\n```\n"
        "```python\nprint(x + 1)  \n```\n"
        "```text\n21\n```\n"
        "```console\n$ not run\n```\n"
    )

    run_page(page, "page.md")
    assert [block.expected for block in parse(page)] == [None, "21\n"]


def test_a_text_block_after_a_non_python_block_is_not_an_expected_output() -> None:
    page = "```python\nprint(5)\n```\n```console\n$ x\n```\n```text\n6\n```\n"

    run_page(page, "page.md")
    assert parse(page)[0].expected is None


if __name__ == "__main__":
    # One page, run by the test above in its own interpreter; Hypothesis draws the
    # same examples every time, as under the suite's "ci" profile.
    from hypothesis import settings

    settings.register_profile("docs", derandomize=True, database=None, deadline=None)
    settings.load_profile("docs")
    path = Path(sys.argv[1])
    run_page(path.read_text(encoding="utf-8"), path.name)
