"""What the dataset's homepage shows, read from the release store on every call (a publish or a
withdrawal shows at once): every version with its status, a version's Markdown documents
rendered with raw HTML off (store text is never trusted as markup), its figures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from storage.local import LocalStore, newest_live, unchecked_batch

FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


class NotShown(LookupError):
    """A version that is not published, or whose files were purged."""


@dataclass(frozen=True)
class VersionRow:
    version: str
    status: str  # current | superseded | withdrawn | purged | held back
    reason: str | None
    labeled: int | None
    unlabeled: int | None


class Site:
    """What the pages show, read from the store on every request (a publish or a withdrawal
    shows at once)."""

    def __init__(self, store: LocalStore, dataset: str) -> None:
        self.store, self.dataset = store, dataset

    def versions(self) -> list[VersionRow]:
        published = self.store.versions(self.dataset)
        withdrawn = self.store.withdrawn(self.dataset)
        current = newest_live(published, withdrawn)
        rows = []
        for version in reversed(published):
            mark = withdrawn.get(version)
            counts = self.store.read_manifest(self.dataset, version).get("counts", {})
            if mark is not None:
                status = "purged" if mark.get("purged_at") else "withdrawn"
                reason = mark.get("reason")
            elif unchecked_batch(self.store, self.dataset, version) is not None:
                status, reason = "held back", "an opt-out is being applied to it"
            else:
                status, reason = ("current" if version == current else "superseded"), None
            rows.append(
                VersionRow(version, status, reason, counts.get("labeled"), counts.get("unlabeled"))
            )
        return rows

    def current(self) -> str | None:
        return newest_live(self.store.versions(self.dataset), self.store.withdrawn(self.dataset))

    def readable(self, version: str) -> Path:
        """A published version's folder whose files are still there (404 otherwise)."""
        mark = self.store.withdrawn(self.dataset).get(version)
        if version not in self.store.versions(self.dataset) or (mark and mark.get("purged_at")):
            raise NotShown(f"{self.dataset} has no version {version} to show")
        return self.store.version_dir(self.dataset, version)

    def document(self, version: str, name: str) -> str:
        """A Markdown file of the version as HTML (its YAML front matter, the card's metadata
        for the Hugging Face hub, left out)."""
        path = self.readable(version) / name
        if not path.is_file():
            return ""
        return _markdown.render(FRONT_MATTER.sub("", path.read_text(encoding="utf-8"), count=1))

    def figures(self, version: str) -> list[str]:
        folder = self.readable(version) / "figures"
        return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
