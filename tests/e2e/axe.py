"""axe-core, run inside the page under test: WCAG 2.0/2.1 A and AA rules, failing on serious or
critical violations with a list a reader can act on (rule, impact, help, the elements' selectors).

The engine is vendored (tests/e2e/vendor/axe-core, MPL-2.0, see its README) so the tests run on a
closed network like the platform."""

from pathlib import Path

from playwright.sync_api import Page

VERSION = "4.14.1"
SCRIPT = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")

_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
}"""


def violations(page: Page) -> list[dict]:
    """Every violation axe finds on the page as it is now (any impact)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=SCRIPT.read_text(encoding="utf-8"))
    return page.evaluate(_RUN, TAGS)


def report(found: list[dict]) -> str:
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            summary = " ".join((node["summary"] or "").split())[:300]
            lines.append(f"    {node['target']} — {summary}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str = "") -> None:
    """No serious or critical WCAG A/AA violation on the page as it is now."""
    blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core {VERSION} on {where or page.url}:\n{report(blocking)}"
