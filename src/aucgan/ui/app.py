"""The Gradio page of the AU editor, and its callbacks as plain functions (:class:`Callbacks`).

Callbacks take and return plain values (numbers, strings, file paths, numpy images, a :class:`Source`);
:data:`KEEP` marks an output to leave as it is. They never raise: bad input comes back as a message for the
page's status line. :func:`build_app` wires them to Gradio components; :func:`launch` serves the page on
localhost with analytics off, nothing fetched from outside, and uploads limited in size.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from aucgan.au import AU_CATALOGUE, AU_MAX, AU_MIN, EMOTIONS
from aucgan.errors import AucganError
from aucgan.render.views import VIEW_STRENGTH
from aucgan.ui import UIError
from aucgan.ui.core import EditorSession, EditResult
from aucgan.ui.sources import Source
from aucgan.ui.views import DEFAULT_AZIMUTH, DEFAULT_TILT, VIEWS, group_aus

#: An output value meaning "leave this component as it is".
KEEP = object()

#: Page controls for the extra conditions a generator may take: (kind, min, max, step, default, label).
EXTRA_CONTROLS: dict[str, tuple] = {
    "emotion": ("choice", None, None, None, "neutral", "emotion"),
    "valence": ("slider", -1.0, 1.0, 0.05, 0.0, "valence (-1 negative .. 1 positive)"),
    "age": ("slider", 10.0, 90.0, 1.0, 35.0, "age (years)"),
    "gender": ("slider", 0.0, 1.0, 0.05, 0.0, "gender (0 female .. 1 male)"),
}

VIEW_LABELS: dict[str, str] = {
    "albedo": "albedo", "shaded": "displacement (shaded)", "normal": "normal map", "render": "relit render",
    "change": "change |output - source| (moved AUs outlined)", "photo": "photo with the change pasted back",
}


def _message(exc: BaseException) -> str:
    if isinstance(exc, AucganError):
        return f"**Error:** {exc}"
    traceback.print_exception(exc, file=sys.stderr)
    return f"**Error:** unexpected {type(exc).__name__}: {exc}"


class Callbacks:
    """Everything the page does, as plain functions of the page's values (one instance per process)."""

    def __init__(self, session: EditorSession, work_dir: str | Path | None = None) -> None:
        self.session = session
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="aucgan-ui-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------------------------ shapes
    @property
    def n_aus(self) -> int:
        return len(self.session.au_names)

    @property
    def extra_names(self) -> tuple[str, ...]:
        """The extra conditions the page has controls for (landmarks come from the source)."""
        return tuple(n for n in self.session.extra_names if n in EXTRA_CONTROLS)

    def _split(self, values: Sequence) -> tuple[list[float], dict[str, object]]:
        """Page values -> (AU slider values, extra conditions by name)."""
        values = list(values)
        if len(values) != self.n_aus + len(self.extra_names):
            raise UIError(f"expected {self.n_aus} AU values and {len(self.extra_names)} extra conditions, "
                          f"got {len(values)} values")
        extras = {}
        for name, v in zip(self.extra_names, values[self.n_aus:]):
            if name == "emotion":
                if v not in EMOTIONS:
                    raise UIError(f"unknown emotion {v!r}; valid: {', '.join(EMOTIONS)}")
                extras[name] = v
            else:
                try:
                    extras[name] = float(v)
                except (TypeError, ValueError):
                    raise UIError(f"{name}: {v!r} is not a number") from None
        return values[: self.n_aus], extras

    def _extras_of(self, source: Source) -> list:
        """Page values of the extra controls for a source's attributes."""
        out = []
        for name in self.extra_names:
            default = EXTRA_CONTROLS.get(name, ("slider", 0, 1, 0.01, 0.0, name))[4]
            v = source.attrs.get(name)
            if name == "emotion":
                out.append(EMOTIONS[int(v)] if v is not None and 0 <= int(v) < len(EMOTIONS) else default)
            else:
                out.append(default if v is None else float(v))
        return out

    def _views(self, result: EditResult) -> list:
        return [result.images[v] for v in VIEWS]

    def _status(self, source: Source, result: EditResult) -> str:
        moved = ", ".join(f"{code} ({colour})" for code, colour in result.moved) or "none"
        return (f"**{source.label}** · moved AUs: {moved} · edit + views in {result.seconds * 1000:.0f} ms · "
                f"target `{self.session.au_record(source, result.target)['spec']}`")

    def _fail(self, exc: BaseException, n_before: int) -> list:
        return [KEEP] * (n_before + len(VIEWS)) + [_message(exc)]

    # ------------------------------------------------------------------------------------------ events
    def edit(self, source: Source | None, azimuth: float, tilt: float, strength: float, *values) -> list:
        """A slider or the lighting moved: [*views, status]."""
        try:
            if source is None:
                raise UIError("no face loaded yet: pick a test identity, Random, or upload maps")
            aus, extras = self._split(values)
            result = self.session.update(source, aus, azimuth, tilt, strength, extras)
        except Exception as exc:  # the page shows every failure as a message
            return self._fail(exc, 0)
        return [*self._views(result), self._status(source, result)]

    def _show_source(self, load: Callable[[], Source], azimuth: float, tilt: float, strength: float) -> list:
        """A new source: [source, *AU values, *extra values, *views, status]."""
        n_before = 1 + self.n_aus + len(self.extra_names)
        try:
            source = load()
            extras = self._extras_of(source)
            aus = [round(float(v), 2) for v in source.au]
            _, extra_map = self._split([*aus, *extras])
            result = self.session.update(source, aus, azimuth, tilt, strength, extra_map)
        except Exception as exc:  # the page shows every failure as a message
            return self._fail(exc, n_before)
        return [source, *aus, *extras, *self._views(result), self._status(source, result)]

    def load_sample(self, sample_id: str | None, azimuth: float, tilt: float, strength: float) -> list:
        """Load a test identity's sample by id."""
        if not sample_id:
            return self._fail(UIError("no sample id given"), 1 + self.n_aus + len(self.extra_names))
        return self._show_source(lambda: self.session.sources.load_sample(sample_id), azimuth, tilt, strength)

    def random(self, azimuth: float, tilt: float, strength: float) -> list:
        """Load a random test sample (or a random synthetic identity when the run has no data)."""
        return self._show_source(self.session.sources.random_source, azimuth, tilt, strength)

    def initial(self, azimuth: float, tilt: float, strength: float) -> list:
        """What the page shows when it opens."""
        return self._show_source(self.session.sources.first_source, azimuth, tilt, strength)

    def upload_maps(self, files: Sequence[str] | str | None, azimuth: float, tilt: float, strength: float) -> list:
        """An uploaded map set (and optional layout / AU JSON)."""
        paths = [files] if isinstance(files, (str, Path)) else list(files or [])
        return self._show_source(lambda: self.session.sources.load_map_files(paths), azimuth, tilt, strength)

    def upload_photo(self, file: str | None, azimuth: float, tilt: float, strength: float) -> list:
        """An uploaded face photo, mapped into the model's layout (needs the photo extra)."""
        return self._show_source(lambda: self.session.sources.load_photo(file), azimuth, tilt, strength)

    def prototype(self, emotion: str, intensity: float, source: Source | None, azimuth: float, tilt: float,
                  strength: float, *values) -> list:
        """An expression prototype button (``values``: the extra conditions): [*AU values, *views, status]."""
        try:
            if source is None:
                raise UIError("no face loaded yet: pick a test identity, Random, or upload maps")
            _, extras = self._split([0.0] * self.n_aus + list(values))
            aus = [round(float(v), 2) for v in self.session.prototype(emotion, intensity)]
            result = self.session.update(source, aus, azimuth, tilt, strength, extras)
        except Exception as exc:  # the page shows every failure as a message
            return self._fail(exc, self.n_aus)
        return [*aus, *self._views(result), self._status(source, result)]

    def _folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="edit-", dir=self.work_dir))

    def download(self, source: Source | None, *values) -> list:
        """The current edited maps as a zip: [file path, status]."""
        try:
            if source is None:
                raise UIError("no face loaded yet")
            aus, extras = self._split(values)
            result = self.session.update(source, aus, extras=extras)
            path = self.session.export_maps(source, result, self._folder())
        except Exception as exc:  # the page shows every failure as a message
            return [KEEP, _message(exc)]
        return [str(path), f"maps of {source.label} ready: `{path.name}` (edited maps, edited.json, au.json)"]

    def save_au(self, source: Source | None, *values) -> list:
        """The current AU vector as JSON: [file path, status]."""
        try:
            if source is None:
                raise UIError("no face loaded yet")
            aus, _ = self._split(values)
            path = self.session.save_au_json(source, aus, self._folder())
        except Exception as exc:  # the page shows every failure as a message
            return [KEEP, _message(exc)]
        return [str(path), f"AU vector saved: `{self.session.au_record(source, aus)['spec']}`"]

    def load_run(self, run_dir: str | None) -> list:
        """Swap in another training run with the same AU set and conditions: [model line, status]."""
        try:
            other = EditorSession.open(run_dir or "", max_upload_mb=self.session.max_upload_bytes / 2**20)
            why = self.session.compatible(other)
            if why:
                raise UIError(f"{other.run_dir}: {why}; start `aucgan ui --checkpoint {other.run_dir}` instead")
        except Exception as exc:  # the page shows every failure as a message
            return [KEEP, _message(exc)]
        self.session = other
        return [other.describe(), f"loaded {other.run_dir}; load a face to edit with it"]


# ------------------------------------------------------------------------------------------------- Gradio
def _gradio():
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio as gr
    except ImportError:
        raise UIError("the editor needs Gradio: pip install 'aucgan[ui]'") from None
    return gr


def _keep(gr, fn: Callable[..., list]) -> Callable[..., list]:
    def run(*args):
        out = fn(*args)
        return [gr.update() if v is KEEP else v for v in out]

    run.__name__ = fn.__name__
    return run


#: The page's own CSS: compact AU groups, a status line that does not jump.
PAGE_CSS = ".au-group {padding: 4px 8px} #status {min-height: 2.5em}"


def page_style(gr) -> dict:
    """The page's ``theme`` (the default look with system fonts only: Gradio's default theme would fetch web
    fonts) and ``css``."""
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    return {"theme": theme, "css": PAGE_CSS}


def style_at_launch(gr) -> bool:
    """Whether this Gradio takes ``theme``/``css`` in ``Blocks.launch()`` (Gradio 6) rather than in the
    ``Blocks`` constructor (Gradio 4 and 5)."""
    return "theme" in inspect.signature(gr.Blocks.launch).parameters


def _blocks(gr, **kw):
    """``gr.Blocks(**kw)`` with the page style where this Gradio takes it in the constructor. Gradio 5.x warns
    there that Gradio 6 moves ``theme``/``css`` to ``launch()``; :func:`launch` passes them there when the
    installed Gradio takes them, so for the constructor of Gradio < 6 that notice is answered and not shown."""
    if style_at_launch(gr):
        return gr.Blocks(**kw)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The '(theme|css)' parameter in the Blocks constructor",
                                category=DeprecationWarning)
        return gr.Blocks(**kw, **page_style(gr))


def build_app(callbacks: Callbacks):
    """The editor page (a ``gradio.Blocks``) wired to ``callbacks``."""
    gr = _gradio()
    session = callbacks.session
    cb = lambda fn: _keep(gr, fn)  # noqa: E731
    with _blocks(gr, title="aucgan AU editor", analytics_enabled=False) as demo:
        source = gr.State(None)
        gr.Markdown("## aucgan · AU editor")
        model_line = gr.Markdown(session.describe(), elem_id="model")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                with gr.Tab("Test identity"):
                    ids = session.sources.sample_ids() if session.sources.has_data() else []
                    sample = gr.Dropdown(ids, value=ids[0] if ids else None, allow_custom_value=True,
                                         label="sample of the run's test identities", elem_id="sample")
                    with gr.Row():
                        load_btn = gr.Button("Load", elem_id="load-sample")
                        random_btn = gr.Button("Random", elem_id="random")
                    if not ids:
                        gr.Markdown("The run records no readable data set: Random gives a synthetic identity.")
                with gr.Tab("Map set"):
                    files = gr.File(file_count="multiple", type="filepath", label="NAME_albedo.png, "
                                    "NAME_displacement.png (+ optional layout / AU .json)", elem_id="maps-upload")
                with gr.Tab("Photo"):
                    no_photo = session.sources.photo_unavailable()
                    photo = None if no_photo else gr.File(type="filepath", label="a face photo (PNG or JPEG)",
                                                          elem_id="photo-upload")
                    gr.Markdown(no_photo or "The face is found (MediaPipe), unwrapped into the layout and edited; "
                                "the change is pasted back into the photo.")
                with gr.Tab("Model"):
                    run_box = gr.Textbox(str(session.run_dir), label="training run directory", elem_id="run-dir")
                    run_btn = gr.Button("Load run", elem_id="load-run")
                gr.Markdown("**Expression prototypes**")
                proto_level = gr.Slider(AU_MIN, AU_MAX, value=3, step=0.1, label="prototype intensity")
                with gr.Row():
                    proto_btns = [(e, gr.Button(e, size="sm", elem_id=f"proto-{e}")) for e in EMOTIONS]
                gr.Markdown("**Lighting**")
                azimuth = gr.Slider(-180, 180, value=DEFAULT_AZIMUTH, step=5, elem_id="light-azimuth",
                                    label="light azimuth (0 above, 90 right)")
                tilt = gr.Slider(0, 85, value=DEFAULT_TILT, step=5, label="light tilt from the view axis",
                                 elem_id="light-tilt")
                strength = gr.Slider(1, 10, value=VIEW_STRENGTH, step=0.5, elem_id="detail-strength",
                                     label="detail strength for viewing (downloads keep geometric normals)")
            with gr.Column(scale=1, min_width=300):
                sliders = []
                for title, codes in group_aus(session.au_names):
                    with gr.Group(elem_classes="au-group"):
                        gr.Markdown(f"**{title}**")
                        for code in codes:
                            info = AU_CATALOGUE.get(code)
                            sliders.append(gr.Slider(AU_MIN, AU_MAX, value=0, step=0.05, elem_id=f"au-{code}",
                                                     label=f"{code} {info.name if info else ''}".strip()))
                order = [code for _, codes in group_aus(session.au_names) for code in codes]
                sliders = [sliders[order.index(code)] for code in session.au_names]
                extras = []
                if callbacks.extra_names:
                    gr.Markdown("**Other conditions**")
                    for name in callbacks.extra_names:
                        kind, lo, hi, step, default, label = EXTRA_CONTROLS.get(
                            name, ("slider", 0.0, 1.0, 0.01, 0.0, name))
                        if kind == "choice":
                            extras.append(gr.Dropdown(list(EMOTIONS), value=default, label=label,
                                                      elem_id=f"extra-{name}"))
                        else:
                            extras.append(gr.Slider(lo, hi, value=default, step=step, label=label,
                                                    elem_id=f"extra-{name}"))
            with gr.Column(scale=2):
                views = {}
                with gr.Row():
                    for v in ("albedo", "shaded", "normal"):
                        views[v] = gr.Image(type="numpy", format="png", label=VIEW_LABELS[v], interactive=False,
                                            elem_id=f"view-{v}")
                with gr.Row():
                    for v in ("render", "change", "photo"):
                        views[v] = gr.Image(type="numpy", format="png", label=VIEW_LABELS[v], interactive=False,
                                            elem_id=f"view-{v}", visible=v != "photo" or photo is not None)
                status = gr.Markdown("", elem_id="status")
                with gr.Row():
                    download_btn = gr.Button("Download maps (.zip)", elem_id="download")
                    save_btn = gr.Button("Save AU vector (.json)", elem_id="save-au")
                download_file = gr.File(label="download", interactive=False, elem_id="download-file")

        light = [azimuth, tilt, strength]
        view_outs = [views[v] for v in VIEWS]
        values = [*sliders, *extras]
        source_outs = [source, *values, *view_outs, status]
        live = {"trigger_mode": "always_last", "show_progress": "hidden"}
        for control in [*sliders, *extras, *light]:
            event = control.input if hasattr(control, "input") else control.change
            event(cb(callbacks.edit), [source, *light, *values], [*view_outs, status], **live)
        demo.load(cb(callbacks.initial), light, source_outs)
        load_btn.click(cb(callbacks.load_sample), [sample, *light], source_outs)
        random_btn.click(cb(callbacks.random), light, source_outs)
        if photo is not None:
            photo.upload(cb(callbacks.upload_photo), [photo, *light], source_outs)
        files.upload(cb(callbacks.upload_maps), [files, *light], source_outs)
        for emotion, btn in proto_btns:
            btn.click(cb(lambda *a, e=emotion: callbacks.prototype(e, *a)), [proto_level, source, *light, *extras],
                      [*sliders, *view_outs, status])
        download_btn.click(cb(callbacks.download), [source, *values], [download_file, status])
        save_btn.click(cb(callbacks.save_au), [source, *sliders], [download_file, status])
        run_btn.click(cb(callbacks.load_run), [run_box], [model_line, status])
    return demo


def launch(callbacks: Callbacks, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve the page; ``block=False`` returns the running app (``.close()`` stops it)."""
    gr = _gradio()
    demo = build_app(callbacks)
    demo.queue(default_concurrency_limit=1)
    demo.launch(server_name=host, server_port=int(port), share=False, inbrowser=False,
                max_file_size=int(callbacks.session.max_upload_bytes), prevent_thread_lock=not block, quiet=not block,
                allowed_paths=[str(callbacks.work_dir)], **(page_style(gr) if style_at_launch(gr) else {}))
    return demo

