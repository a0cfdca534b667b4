"""The documentation says what the tool does now: its example outputs are re-run, and every
property, witness and variant it could name is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from invariants import LIVENESS, SAFETY, WITNESSES
from lutakeover.docgen import docs_outputs
from model.protocol import VARIANTS

DOCS = Path(__file__).parent.parent / "docs"
BLOCKS = docs_outputs.blocks(docs_outputs.documents())


def test_the_docs_have_checked_outputs() -> None:
    where = {b.path.name for b in BLOCKS}
    assert {"counterexamples.md", "scenarios.md"} <= where
    assert sum(b.kind == "output" for b in BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b.path.name}:{b.line}")
def test_a_documented_output_is_what_the_tool_prints(block: docs_outputs.Block) -> None:
    output = docs_outputs.run(block.command)
    assert docs_outputs.agrees(block, output), (
        f"{block.path.name}:{block.line}: `lutakeover {block.command}` now prints:\n{output}\n"
        "(python -m lutakeover.docgen.docs_outputs rewrites the block)"
    )


def test_a_stale_block_is_caught() -> None:
    block = next(b for b in BLOCKS if b.kind == "output" and "variants" in b.command)
    output = docs_outputs.run(block.command)
    assert docs_outputs.agrees(block, output)
    assert not docs_outputs.agrees(block, output.replace("skip-destage", "skip-destaging"))
    excerpt = docs_outputs.Block(block.path, 1, "excerpt", block.command, "correct\n...\nno-resume\n", 0, 0)
    assert docs_outputs.agrees(excerpt, output) is False  # lines are whole lines, not prefixes
    excerpt = docs_outputs.Block(block.path, 1, "excerpt", block.command, output.split("\n")[3] + "\n", 0, 0)
    assert docs_outputs.agrees(excerpt, output)
    # An excerpt's adjacent lines are adjacent in the output: a line left out needs a "...".
    first, second, third = output.split("\n")[2:5]
    for body, agrees in [(f"{first}\n{third}\n", False), (f"{first}\n...\n{third}\n", True)]:
        excerpt = docs_outputs.Block(block.path, 1, "excerpt", block.command, body, 0, 0)
        assert docs_outputs.agrees(excerpt, output) is agrees, second


def test_timings_are_compared_as_placeholders() -> None:
    assert docs_outputs.normalised("depth 12, 0.13 s (7,753 states/s)") == docs_outputs.normalised(
        "depth 12, 1.07 s (9,903 states/s)"
    )
    assert docs_outputs.normalised("depth 12") != docs_outputs.normalised("depth 13")


@pytest.mark.parametrize(
    "name",
    [*(p.name for p in SAFETY), *(p.name for p in LIVENESS), *(w.name for w in WITNESSES), *VARIANTS],
)
def test_every_property_witness_and_variant_is_in_the_counterexample_guide(name: str) -> None:
    assert f"`{name}`" in (DOCS / "counterexamples.md").read_text() or name in _checked_text(), name


def _checked_text() -> str:
    """What the checked output blocks of counterexamples.md say (kept current by the test above)."""
    return "".join(b.body for b in BLOCKS if b.path.name == "counterexamples.md")
