"""A banner's custom colours: checked as #rrggbb, the button's text colour picked for them,
and the WCAG 2.1 contrast warnings the step editor shows (text below AA 4.5:1, the button
against the banner below 3:1, the non-text minimum)."""

from __future__ import annotations

import re

from ..errors import Invalid

_HEX = re.compile(r"#[0-9a-f]{6}")
#: WCAG 2.1 AA: normal text 4.5:1 (SC 1.4.3); a control against what is around it 3:1 (1.4.11).
TEXT_AA, NON_TEXT_AA = 4.5, 3.0
WHITE, INK = "#ffffff", "#111111"
DEFAULTS = {"bg": "#1f2a44", "ink": "#ffffff", "accent": "#f2c14e"}
LABELS = {"bg": "Background", "ink": "Text", "accent": "Button"}


def hex_color(value: str, label: str) -> str:
    value = (value or "").strip().lower()
    if not _HEX.fullmatch(value):
        raise Invalid(f"{label} colour: give it as #rrggbb.", field="colors")
    return value


def luminance(color: str) -> float:
    """Relative luminance of #rrggbb (WCAG 2.1)."""
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def ink_on(background: str) -> str:
    """White or near-black, whichever reads better on `background`."""
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def palette(colors: dict[str, str]) -> dict[str, str]:
    """The colours a page needs: the three chosen and the button's text colour."""
    return {**colors, "accent_ink": ink_on(colors["accent"])}


def warnings(colors: dict[str, str]) -> list[str]:
    """What falls below WCAG AA, in words; empty when all is readable."""
    found = []
    text = contrast(colors["ink"], colors["bg"])
    if text < TEXT_AA:
        found.append(f"Text on the background is {text:.1f}:1, below the {TEXT_AA:g}:1 "
                     "that WCAG AA asks for: some visitors will not be able to read it.")
    button = contrast(ink_on(colors["accent"]), colors["accent"])
    if button < TEXT_AA:
        found.append(f"The button's label is {button:.1f}:1 on its colour, below "
                     f"{TEXT_AA:g}:1: pick a darker or lighter button colour.")
    edge = contrast(colors["accent"], colors["bg"])
    if edge < NON_TEXT_AA:
        found.append(f"The button stands out {edge:.1f}:1 from the background, below "
                     f"{NON_TEXT_AA:g}:1: it may not look like a button.")
    return found
