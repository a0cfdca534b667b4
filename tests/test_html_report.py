"""The HTML report of `check --report` and `simulate --report`: what the variant changes and why
the run fails are said above everything else; wide tables and diagrams scroll in their own box;
a report into a folder used before leaves nothing of the earlier run behind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lutakeover.cli import main
from lutakeover.reports.html_report import (
    OWNED,
    PAGE,
    TRACE,
    check_report,
    simulation_report,
    variant_sentence,
)
from model.actions import Model
from model.protocol import ALL_BUGS, VARIANTS, Protocol, variant
from model.scenario import builtin
from proofs.check import Check, run_check
from proofs.simulate import Simulation

# Elements html.parser reports as a start tag with no end tag.
VOID = {"br", "meta", "img", "hr", "input", "link", "wbr"}


@dataclass
class Element:
    tag: str
    classes: set[str]
    ancestor_classes: set[str]
    text: str = ""


class Outline(HTMLParser):
    """Every element of the page in document order, with its classes and its ancestors'."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.css = ""
        self._open: list[tuple[str, Element]] = []

    def _record(self, tag: str, attrs: list[tuple[str, str | None]]) -> Element:
        classes = set((dict(attrs).get("class") or "").split())
        above = {c for _, e in self._open for c in e.classes}
        element = Element(tag, classes, above)
        self.elements.append(element)
        return element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = self._record(tag, attrs)
        if tag not in VOID:
            self._open.append((tag, element))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "style":
            self.css += data
        for _, element in self._open:
            element.text += data

    def first(self, tag: str, cls: str | None = None) -> int:
        """The document position of the first such element; fails if there is none."""
        found = [k for k, e in enumerate(self.elements) if e.tag == tag and (cls is None or cls in e.classes)]
        assert found, f"no <{tag}> of class {cls!r} in the page"
        return found[0]


def outline(page: Path) -> Outline:
    parser = Outline()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


def css_rules(css: str) -> dict[str, dict[str, str]]:
    """Selector -> its declarations, every selector of a group getting the group's."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(
            (name.strip(), value.strip())
            for name, _, value in (d.partition(":") for d in body.split(";") if ":" in d)
        )
        for selector in selectors.split(","):
            rules.setdefault(selector.strip(), {}).update(declarations)
    return rules


@cache
def checked(scenario: str, name: str) -> Check:
    return run_check(Model(builtin(scenario), variant(name)))


def failing_simulation() -> Simulation:
    """A `simulate` result whose failure is the checker's shortest counterexample: the page
    is the same as after a real random run, without the seconds of one."""
    v = checked("one-lu", "skip-destage").shortest()["no_stale_cache"]
    m = checked("one-lu", "skip-destage").model
    return Simulation(m, 7, 30, 400, 1.0, 20, {"takeover_completes": 5}, v, "def test_replay(): ...")


def violated_pages(tmp_path: Path) -> list[Path]:
    return [
        check_report(checked("one-lu", "skip-destage"), tmp_path / "check"),
        simulation_report(failing_simulation(), tmp_path / "simulate"),
    ]


def test_every_variant_is_said_in_one_sentence() -> None:
    for name in VARIANTS:
        sentence = variant_sentence(variant(name))
        assert sentence.startswith(f"Variant {name}") and sentence.endswith(".")
        assert VARIANTS[name] in sentence
        assert (", a seeded bug: " in sentence) == (name in ALL_BUGS)
    assert "as the patent describes it" in variant_sentence(variant("correct"))
    both = variant_sentence(Protocol(skip_destage=True, no_suspend=True))
    assert ALL_BUGS["skip-destage"] in both and ALL_BUGS["no-suspend"] in both


@pytest.mark.parametrize("name", ["skip-destage", "correct"])
def test_the_page_says_what_the_variant_changes_before_any_section(tmp_path: Path, name: str) -> None:
    page = outline(check_report(checked("one-lu", name), tmp_path))
    said = page.elements[page.first("p", "variant")]
    assert said.text == variant_sentence(variant(name))
    assert page.first("p", "variant") < page.first("h2")
    if name == "correct":
        assert "as the patent describes it" in said.text
    else:
        assert "dirty lines left in the source's cache" in said.text


def test_the_violation_note_comes_before_every_table_and_diagram(tmp_path: Path) -> None:
    for path in violated_pages(tmp_path):
        page = outline(path)
        note = page.first("p", "sentence")
        text = page.elements[note].text
        # The property, the controller, the LU and the block the run breaks.
        assert text.startswith("no_stale_cache is violated: controller 0 holds a dirty line of LU0 block 0")
        assert note < page.first("table") and note < page.first("svg") and note < page.first("h2")
        assert sum(e.tag == "svg" for e in page.elements) == 2  # sequence diagram, phase machine


def test_every_table_and_diagram_scrolls_in_its_own_box(tmp_path: Path) -> None:
    for path in violated_pages(tmp_path):
        page = outline(path)
        rules = css_rules(page.css)
        boxes = {
            selector[1:]
            for selector, d in rules.items()
            if selector.startswith(".") and d.get("overflow-x") == "auto" and d.get("max-width") == "100%"
        }
        wide = [e for e in page.elements if e.tag in ("table", "svg", "pre")]
        assert len(wide) >= 5
        for e in wide:
            assert e.ancestor_classes & boxes or (e.tag == "pre" and rules["pre"]["overflow-x"] == "auto"), (
                f"a <{e.tag}> outside any scrolling box"
            )
        # The page itself is never set wider than a 1,400 px window.
        for name in ("width", "min-width", "max-width"):
            value = rules["body"].get(name, "0px")
            assert not value.endswith("px") or float(value[:-2]) <= 1400, f"body {name}: {value}"


def test_a_report_into_a_used_folder_leaves_nothing_of_the_earlier_run(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    check_report(checked("one-lu", "skip-destage"), folder)
    assert (folder / TRACE).is_file()

    assert main(["check", "--builtin", "one-lu", "--quiet", "--report", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"  # not the report's: left alone
    page = outline(folder / PAGE)
    assert "variant correct" in page.elements[page.first("title")].text
    assert page.elements[page.first("span", "verdict")].text == "OK"
    assert not any("sentence" in e.classes for e in page.elements)
    assert set(OWNED) == {PAGE, TRACE}


def test_a_folder_of_the_report_s_name_is_not_removed(tmp_path: Path) -> None:
    (tmp_path / TRACE).mkdir()
    (tmp_path / TRACE / "kept").write_text("mine")
    check_report(checked("one-lu", "correct"), tmp_path)
    assert (tmp_path / TRACE / "kept").read_text() == "mine"
