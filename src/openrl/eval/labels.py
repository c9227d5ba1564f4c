"""How optimizer labels and step counts read in tables and figures.

Shared by the Markdown report (:mod:`openrl.eval.markdown`) and the figures (:mod:`openrl.eval.figures`)
so that a table row and a legend entry name an optimizer the same way.
"""

from __future__ import annotations

from openrl.config.registry import OPTIMIZERS

# Presets (conf/optimizer/*.yaml) that are not an optimizer's own name; an optimizer's own name reads as
# its registry entry's ``display``.
DISPLAY = {
    "open_pretrained": "OPEN (released)",
    "open_multi_pretrained": "OPEN multi-task (released)",
    "open_large": "OPEN (large)",
    "open_no_stochasticity": "No Stochasticity",
    "open_no_training_prop": "No Training Prop.",
    "open_no_batch_prop": "No Batch Prop.",
    "open_no_dormancy": "No Dormancy",
    "open_no_layer_prop": "No Layer Prop.",
    "open_separated": "OPEN (separated)",
}


def display(label: str) -> str:
    """A reader's name for an optimizer label (``open_pretrained`` -> ``OPEN (released)``)."""
    base, sep, rest = label.partition(" [")
    name = DISPLAY.get(base) or (OPTIMIZERS[base].display if base in OPTIMIZERS else base)
    return name + (f" [{rest}" if sep else "")


def steps(t: float | None) -> str:
    """``10000000`` -> ``"10M"``, ``200000`` -> ``"200k"`` (titles and headings)."""
    if t is None:
        return "?"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if t >= div:
            return f"{t / div:.4g}{unit}"
    return f"{t:g}"


__all__ = ["DISPLAY", "display", "steps"]
