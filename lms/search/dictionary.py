"""The search dictionary: domain terms jieba must keep whole, and groups of words that mean the same.

Admins edit it as data (``SearchTerm`` rows, the admin page, ``flask search terms``); each edit
bumps a generation number and queues a rebuild. The rebuild writes the dictionary it used into
the new index generation (``dictionary.json``), so the index and the words it was cut with
always travel together: a searching process that opens a new generation applies its dictionary
to jieba before cutting any query, and the worker applies it before indexing an update.

Synonyms are groups: a query for any word of a group also finds the others (网安 finds 网络安全,
个保法 finds 个人信息保护法, 应急预案 and 预案 find each other).
"""

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "dictionary.json"

# What a fresh installation starts with (the migration seeds the same rows): (term, synonyms).
DEFAULT_ENTRIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("网络安全", ("网安",)),
    ("网络安全法", ()),
    ("数据安全法", ()),
    ("个人信息保护法", ("个保法", "PIPL")),
    ("个人信息", ()),
    ("等级保护", ("等保",)),
    ("关键信息基础设施", ("关基",)),
    ("数据出境", ("数据跨境",)),
    ("人工智能", ("AI",)),
    ("大模型", ("LLM", "大语言模型")),
    ("机器学习", ("machine learning",)),
    ("知识产权", ("知产",)),
    ("著作权", ("版权",)),
    ("应急预案", ("预案",)),
    ("应急管理", ("emergency management",)),
    ("双重预防机制", ()),
    ("突发事件应对法", ()),
    ("安全生产", ("work safety",)),
    ("危险化学品", ("危化品",)),
    ("心肺复苏", ("CPR",)),
    ("数字化转型", ("digital transformation",)),
    ("碳达峰", ("双碳",)),
)


def norm(word: str) -> str:
    return " ".join(word.lower().split())


@dataclass(frozen=True)
class Dictionary:
    generation: int = 0
    entries: tuple[tuple[str, tuple[str, ...]], ...] = ()
    _groups: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, entries, generation: int = 0) -> "Dictionary":
        entries = tuple((term.strip(), tuple(s.strip() for s in synonyms if s.strip()))
                        for term, synonyms in entries if term.strip())
        groups: dict[str, set[str]] = {}
        for term, synonyms in entries:
            words = {term, *synonyms}
            merged = set(words)
            for word in words:
                merged |= groups.get(norm(word), set())
            for word in merged:
                groups[norm(word)] = merged
        return cls(generation, entries, {k: tuple(sorted(v - {k})) for k, v in groups.items()})

    @property
    def words(self) -> list[str]:
        """Words jieba must keep whole (Chinese terms and synonyms; Latin words are whole anyway)."""
        return sorted({w for term, syns in self.entries for w in (term, *syns) if not w.isascii() and len(w) > 1})

    def synonyms(self, word: str) -> tuple[str, ...]:
        return tuple(w for w in self._groups.get(norm(word), ()) if norm(w) != norm(word))

    def to_json(self) -> str:
        return json.dumps({"generation": self.generation, "entries": [[t, list(s)] for t, s in self.entries]},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Dictionary":
        data = json.loads(text)
        return cls.of(((t, tuple(s)) for t, s in data["entries"]), data["generation"])


DEFAULT = Dictionary.of(DEFAULT_ENTRIES)


def write(dictionary: Dictionary, generation_dir: Path) -> None:
    (Path(generation_dir) / FILE_NAME).write_text(dictionary.to_json(), encoding="utf-8")


def read(index_dir: Path) -> Dictionary:
    path = Path(index_dir) / FILE_NAME
    return Dictionary.from_json(path.read_text(encoding="utf-8")) if path.exists() else DEFAULT


# ---------------------------------------------------------------- jieba's view of the dictionary

_lock = threading.Lock()
_applied: set[str] = set()


def apply(dictionary: Dictionary) -> None:
    """Make jieba cut by ``dictionary``: add its words, forget words of a dictionary it replaces."""
    import jieba  # loaded by services.init_jieba() in the processes that search or index

    words = set(dictionary.words)
    with _lock:
        if words == _applied:
            return
        for word in _applied - words:
            jieba.del_word(word)
        for word in words - _applied:
            jieba.add_word(word, freq=max(jieba.get_FREQ(word) or 0, 200_000))
        _applied.clear()
        _applied.update(words)


PINYIN_SPAN = (2, 6)  # characters in a run of the title spelled out: 网络 … 网络安全法律


def pinyin_terms(title: str) -> str:
    """Full pinyin of every run of 2–6 Chinese characters in ``title`` and initials of those of
    3 or more (网络安全 → wangluoanquan wlaq; 人工智能 → rengongzhineng rgzn), space-separated.
    Two-letter initials are left out: too many titles share them to mean anything."""
    from pypinyin import lazy_pinyin  # only the indexing side needs it

    low, high = PINYIN_SPAN
    out: dict[str, None] = {}
    for run in re.findall(r"[\u4e00-\u9fff]+", title):
        syllables = lazy_pinyin(run, errors="ignore")
        if len(syllables) != len(run):
            continue
        for size in range(low, min(high, len(run)) + 1):
            for start in range(len(run) - size + 1):
                part = syllables[start:start + size]
                out.setdefault("".join(part), None)
                if size >= 3:
                    out.setdefault("".join(s[0] for s in part), None)
    return " ".join(out)
