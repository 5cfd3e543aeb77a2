"""Markdown for lesson texts: CommonMark with raw HTML disabled, so content cannot inject markup."""

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> str:
    return _md.render(text)
