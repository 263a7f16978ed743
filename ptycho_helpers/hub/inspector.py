"""The ipywidgets run inspector of ``notebooks/inspect_run.ipynb``.

In a live JupyterLab kernel widget callbacks run on a second thread, where pyplot's
post-execute flush closes figures still being drawn (blank output).  So nothing here
touches pyplot: each view is drawn on a bare :class:`matplotlib.figure.Figure` into PNG
bytes under a lock and shown by an ``ipywidgets.Image``; one change renders once
(programmatic updates of the sliders are batched), errors appear in the widget's status
line, and :meth:`RunInspector.static` gives the same picture as a plain image for
executed copies (papermill, nbval) that cannot show widgets.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .viewer import (  # noqa: F401 - NAN_COLOUR is also the inspector's to readers
    NAN_COLOUR,
    OVER_COLOUR,
    UNDER_COLOUR,
    VIEWS,
    RunView,
    line_profile,
    list_hubs,
    list_runs,
    load_run,
    resolve_reports_dir,
)


def _kind(view: str) -> str:
    if view == "coverage":
        return "coverage"
    if "phase" in view:
        return "phase"
    return "difference" if "difference" in view else "amplitude"


class RunInspector:
    """Hub and run selectors, view, separate ranges (amplitude maximum, difference ±,
    phase ±), a line-profile row, the picture and a status line."""

    def __init__(self, reports_dir: str | Path | None = None):
        import ipywidgets as w

        self.reports_dir = resolve_reports_dir(reports_dir)
        hubs = [h.name for h in list_hubs(self.reports_dir) if list_runs(h)]
        self.hub = w.Dropdown(options=hubs, description="hub")
        self.run = w.Dropdown(options=[], description="run")
        self.view = w.Dropdown(options=VIEWS, value="amplitude", description="view")
        wide = w.Layout(width="46%")  # long sliders: a short drag is a small change
        self.vmax = w.FloatSlider(
            value=1.0, min=0.01, max=10.0, step=0.01, description="amp max", layout=wide
        )
        self.dmax = w.FloatSlider(
            value=0.5, min=0.001, max=5.0, step=0.001, description="diff ±", layout=wide
        )
        self.pmax = w.FloatSlider(
            value=math.pi, min=0.001, max=math.pi, step=0.001, description="phase ±", layout=wide
        )
        self.row = w.IntSlider(value=0, min=0, max=1, description="profile row", layout=wide)
        self.status = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width="100%"))
        self.current: RunView | None = None
        self.message = ""
        self.renders = 0  # pictures drawn (one per user change)
        self._lock = threading.RLock()
        self._batching = 0
        self.hub.observe(self._on_hub, names="value")
        self.run.observe(self._on_run, names="value")
        for ctl in (self.view, self.vmax, self.dmax, self.pmax, self.row):
            ctl.observe(self._on_control, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.hub, self.run, self.view]),
                w.HBox([self.vmax, self.dmax]),
                w.HBox([self.pmax, self.row]),
                self.status,
                self.image,
            ]
        )
        if not hubs:
            self._say(f"no runs found under {self.reports_dir} (run `make run` first)", error=True)
        self._on_hub(None)

    # ------------------------------------------------------------------ events
    @contextlib.contextmanager
    def _batch(self):
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1

    def _guarded(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not lost in a log console
            self.image.value = b""
            self._say(f"{type(exc).__name__}: {exc}", error=True)

    def _on_hub(self, _change) -> None:
        self._guarded(self._load_hub)

    def _load_hub(self) -> None:
        with self._batch():
            self.run.options = list_runs(self.reports_dir / self.hub.value) if self.hub.value else []
            if self.run.options:
                self.run.value = self.run.options[0]
        self._load_run()

    def _on_run(self, _change) -> None:
        if not self._batching:
            self._guarded(self._load_run)

    def _load_run(self) -> None:
        if not (self.hub.value and self.run.value):
            self.current = None
            return
        self.current = load_run(self.reports_dir / self.hub.value, self.run.value)
        ranges = self.current.stats.get("display_ranges", {})
        side = self.current.amplitude.shape[0]
        with self._batch():  # set the controls for this run, then draw once
            views = self.current.views()  # only what this run made (no refined view without refinement)
            keep = self.view.value if self.view.value in views else "amplitude"
            self.view.options = views
            self.view.value = keep
            self.row.max = side - 1
            self.row.value = side // 2
            self.pmax.value = self.phase_difference_range()
            self.vmax.value = min(self.vmax.max, float(ranges.get("amplitude", {}).get("vmax", 1.0)))
            self.dmax.value = min(
                self.dmax.max,
                max(self.dmax.min, float(ranges.get("amplitude_diff", {}).get("vmax", self.vmax.value / 2))),
            )
        self.refresh()

    def phase_difference_range(self) -> float:
        """± range that shows the phase difference (its 99th percentile of |Δφ| on the
        covered pixels, at least 0.05 rad): ±π made a small difference plain white."""
        if self.current is None or not self.current.has_truth:
            return math.pi
        diff = self.current.image("phase difference")
        vals = np.abs(diff[np.isfinite(diff)])
        if not vals.size:
            return math.pi
        return float(min(math.pi, max(0.05, np.percentile(vals, 99))))

    def _on_control(self, _change) -> None:
        if not self._batching:
            self.refresh()

    # ------------------------------------------------------------------ drawing
    def _range(self) -> tuple[float, float, str]:
        kind = _kind(self.view.value)
        if kind == "amplitude":
            return 0.0, float(self.vmax.value), "gray"
        if kind == "difference":
            return -float(self.dmax.value), float(self.dmax.value), "RdBu_r"
        if kind == "phase":  # the phase itself on ±π, its difference on the phase ± slider
            if self.view.value == "phase":
                return -math.pi, math.pi, "twilight"
            return -float(self.pmax.value), float(self.pmax.value), "RdBu_r"
        return 0.0, float(np.nanmax(self.current.coverage)) if self.current else 1.0, "viridis"

    def title(self) -> str:
        return f"{self.hub.value}/{self.run.value}: {self.view.value}"

    def render(self):
        """The figure for the current selection (image with colour bar + line profile), or None."""
        import matplotlib
        from matplotlib.figure import Figure

        if self.current is None:
            return None
        vmin, vmax, cmap_name = self._range()
        img = self.current.image(self.view.value)
        cmap = matplotlib.colormaps[cmap_name].with_extremes(
            bad=NAN_COLOUR, over=OVER_COLOUR, under=UNDER_COLOUR
        )
        fig = Figure(figsize=(10, 4), dpi=90)
        ax, axp = fig.subplots(1, 2)
        im = ax.imshow(img, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, extend="both")
        row = min(int(self.row.value), img.shape[0] - 1)  # the dense canvas has its own size
        ax.axhline(row, color="tab:orange", lw=0.8)
        ax.set_title(  # wrapped: a long hub/run name is not cut at the left
            f"{self.run.value}: {self.view.value}\n{self.hub.value}\n"
            "beige: not covered · magenta/cyan: beyond the range",
            fontsize=8,
            loc="left",
        )
        vals, truth = line_profile(self.current, self.view.value, row)
        if np.isfinite(vals).any():
            axp.plot(vals, label=self.view.value)
            if truth is not None:
                axp.plot(truth, label="truth", alpha=0.7)
            axp.legend(fontsize=7)
        else:
            axp.text(
                0.5,
                0.5,
                f"row {row} has no covered pixels",
                ha="center",
                va="center",
                transform=axp.transAxes,
            )
        axp.set_xlabel("canvas x (px)")
        axp.set_title(f"row {row}", fontsize=9)
        fig.tight_layout()
        return fig

    def png(self) -> bytes:
        fig = self.render()
        if fig is None:
            return b""
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def refresh(self) -> None:
        """Draw the current selection into the widget (serialised; errors go to the status)."""
        with self._lock:
            try:
                data = self.png()
            except Exception as exc:  # noqa: BLE001
                self.image.value = b""
                self._say(f"{self.title()}: {type(exc).__name__}: {exc}", error=True)
                return
            self.image.value = data
            self.renders += 1
            self._say(self.title() if data else "nothing selected")

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#333"
        self.message = text
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def static(self) -> Any:
        """The current picture as an IPython image (what an executed copy keeps)."""
        from IPython.display import Image, Markdown

        data = self.png()
        if not data:
            return Markdown(f"*{self.message}*")
        from IPython.display import display

        display(
            Markdown(
                f"*Snapshot at execution: {self.title()} (the widget above redraws; this copy does not).*"
            )
        )
        return Image(data=data)
