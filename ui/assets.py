"""Where the app's files (style sheet, example photos) lie: next to the code, not the current directory.

From a source checkout that is the repository's assets/; from an installed package it is
site-packages/assets, which pyproject.toml ships as package data beside ui/, api/, server/ and pipelines/.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
STYLE_CSS = ASSETS / "style.css"
PAGE_JS = ASSETS / "page.js"  # the page's own behaviour: run ids, shortcuts, A1111's weight keys
EXAMPLES = ASSETS / "examples"
