"""The fonts PDFs and chart images are set in, found in installed PyPI packages and nowhere
else.

A PDF or chart should look the same on a laptop and in a slim container with no fonts
installed, and a report may be in any language. So Typst is never shown the machine's fonts,
and the chart renderer gets these beside them: the folders of four Python packages, which
together cover Latin, Greek and Cyrillic (Noto Sans), Arabic
(Noto Sans Arabic), Chinese, Japanese and Korean (Noto Sans CJK), emoji (Noto Emoji), symbols
and the other scripts Noto Sans lacks (Hebrew, Devanagari, Thai, …). ``FALLBACK`` is the order
Typst tries them in for each character.

Each folder is found through the package itself (``fontpkg``'s registry for the fontpkg
families, ``importlib.resources`` for the others), never through a path on this machine.
Typst takes folders, not files, and ``manimgx-fonts`` also ships a Noto Sans and a Noto Sans
Arabic (weight axis only), so the fontpkg folders come first: on a tie Typst keeps the font it
found first, and fontpkg's Noto Sans also has the width axis the data table may narrow to.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
from dataclasses import dataclass
from pathlib import Path


class FontsMissing(RuntimeError):
    """A font package PDFs and charts need is not installed; the message names it for pip."""


@dataclass(frozen=True)
class FontPackage:
    distribution: str  # the name pip knows it by
    module: str  # the import name
    family: str | None = None  # a fontpkg family: its files come from fontpkg's registry


PACKAGES: tuple[FontPackage, ...] = (
    FontPackage("fontpkg-noto-sans", "fontpkg_noto_sans", family="Noto Sans"),
    FontPackage("fontpkg-noto-sans-arabic", "fontpkg_noto_sans_arabic", family="Noto Sans Arabic"),
    FontPackage("noto-cjk-sans-otc", "noto_cjk_sans_otc"),
    FontPackage("manimgx-fonts", "manimgx_fonts"),
)

# Noto Sans first, so Latin text and digits never come from a CJK or emoji face. One CJK face
# serves Chinese, Japanese and Korean alike (each Noto CJK face holds all of Han, kana and
# Hangul; SC draws the Han characters in their simplified-Chinese forms). Symbols before
# emoji: ✓ ★ → in a data table read better as text than as pictures.
FONT_SUFFIXES = frozenset({".ttf", ".otf", ".ttc", ".otc"})

FALLBACK: tuple[str, ...] = (
    "Noto Sans",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans CJK SC",
    "Noto Sans Devanagari",
    "Noto Sans Bengali",
    "Noto Sans Gurmukhi",
    "Noto Sans Gujarati",
    "Noto Sans Oriya",
    "Noto Sans Tamil",
    "Noto Sans Telugu",
    "Noto Sans Kannada",
    "Noto Sans Malayalam",
    "Noto Sans Sinhala",
    "Noto Sans Thai",
    "Noto Sans Lao",
    "Noto Sans Khmer",
    "Noto Sans Myanmar",
    "Noto Sans Georgian",
    "Noto Sans Armenian",
    "Noto Sans Ethiopic",
    "Noto Sans Symbols",
    "Noto Emoji",
)


@functools.cache
def font_dirs() -> tuple[Path, ...]:
    """The font folders, in the order Typst should read them; ``FontsMissing`` if one is not
    installed (a PDF with boxes for letters is worse than no PDF)."""
    found: list[Path] = []
    for package in PACKAGES:
        for folder in _folders(package):
            if folder not in found:
                found.append(folder)
    return tuple(found)


def font_paths() -> list[str]:
    """``font_dirs()`` as ``typst.compile(font_paths=...)`` takes them."""
    return [str(folder) for folder in font_dirs()]


def _folders(package: FontPackage) -> list[Path]:
    try:
        if package.family is not None:
            return _fontpkg_folders(package.family)
        module = importlib.import_module(package.module)
    except ImportError as exc:
        raise _missing(package) from exc
    # These packages are their fonts: the files lie beside the module's __init__.py.
    folder = Path(str(importlib.resources.files(module)))
    if not any(f.suffix.lower() in FONT_SUFFIXES for f in folder.iterdir() if f.is_file()):
        raise _missing(package)
    return [folder]


def _fontpkg_folders(family: str) -> list[Path]:
    import fontpkg  # type: ignore[import-untyped, unused-ignore]

    try:
        files = fontpkg.family(family).files
    except fontpkg.FamilyNotInstalled as exc:
        raise ImportError(family) from exc
    folders = list(dict.fromkeys(Path(f.path).parent for f in files if Path(f.path).is_file()))
    if not folders:
        raise ImportError(family)
    return folders


def _missing(package: FontPackage) -> FontsMissing:
    return FontsMissing(
        f"PDFs and charts need the font package {package.distribution!r}: "
        f"pip install {package.distribution}"
    )


__all__ = ["FALLBACK", "PACKAGES", "FontsMissing", "font_dirs", "font_paths"]
