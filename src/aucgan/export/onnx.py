"""A generator (through its :class:`~aucgan.inference.Editor`) as an ONNX graph with its conditioning inputs
(batch size dynamic); which inputs it has follows :class:`aucgan.models.interface.Generator`.

Inputs (float32, network scale as in training): ``maps`` (B, C, S, S) the source maps stacked by the run's
codec, ``au`` (B, K) target AUs in unit scale (intensity / 5); where the generator needs them also
``footprints`` (B, K, S, S) AU footprints of the layout, ``extra`` (B, E) extra conditions and ``source_au``
(B, K) the source's AUs (relative AU mode). Output: ``out`` (B, C, S, S). A JSON sidecar beside the file
records the inputs, the codec (map order, displacement scale), the AU names, extra attributes, size and step.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write_text
from aucgan.inference import Editor
from aucgan.models.interface import Generator

OPSET = 17


def generator_inputs(G: Generator) -> list[str]:
    """The ONNX input names the generator ``G`` needs, in call order."""
    names = ["maps", "au"]
    if G.uses_footprints:
        names.append("footprints")
    if G.extra_dim > 0:
        names.append("extra")
    if G.needs_source_au:
        names.append("source_au")
    return names


class GeneratorGraph(nn.Module):
    """The editor's generator with positional inputs named by :func:`generator_inputs`, returning only ``out``."""

    def __init__(self, editor: Editor) -> None:
        super().__init__()
        self.G = editor.G
        self.editor = editor
        self.names = generator_inputs(editor.G)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        kw = dict(zip(self.names, inputs))
        return self.editor.forward(kw["maps"], kw["au"], kw.get("footprints"), kw.get("source_au"),
                                   kw.get("extra"))["out"]


def example_inputs(G: Generator, size: int, batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the right shapes (for tracing and tests)."""
    g = torch.Generator().manual_seed(seed)
    k = G.num_aus
    shapes = {"maps": (batch, G.in_channels, size, size), "au": (batch, k), "footprints": (batch, k, size, size),
              "extra": (batch, G.extra_dim), "source_au": (batch, k)}
    out = {}
    for name in generator_inputs(G):
        t = torch.rand(shapes[name], generator=g)
        out[name] = t * 2 - 1 if name == "maps" else t
    return out


def export_onnx(editor: Editor, path: str | Path, meta: dict | None = None, opset: int = OPSET) -> dict:
    """Write the editor's generator (eval mode, moved to the CPU) as ONNX to ``path`` plus ``<path>.json``;
    return the sidecar dict (inputs, scales, the codec, AU names, extra attributes, size and step, plus ``meta``)."""
    path = Path(path)
    G, size = editor.G.cpu().eval(), editor.size
    graph = GeneratorGraph(editor).eval()
    inputs = example_inputs(G, size, batch=2)
    names = list(inputs)
    dynamic = {n: {0: "batch"} for n in [*names, "out"]}
    tmp = path.with_name(f".{path.stem}.tmp.onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, tuple(inputs.values()), str(tmp), input_names=names, output_names=["out"],
                              dynamic_axes=dynamic, opset_version=opset, dynamo=False)
        tmp.replace(path)
    except Exception as exc:  # the exporter raises many types; report them as one aucgan error
        raise AucganError(f"ONNX export to {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    sidecar = {"format": "aucgan-onnx", "opset": opset,
               "inputs": {n: {"shape": ["batch", *t.shape[1:]]} for n, t in inputs.items()},
               "output": {"out": {"shape": ["batch", G.in_channels, size, size]}},
               "scales": {"maps": "network scale: albedo 2x - 1, displacement d / disp_scale",
                          "au": "intensity / 5", "source_au": "intensity / 5"},
               "au_names": list(editor.au_names),
               "codec": {"maps": list(editor.codec.maps), "disp_scale": editor.codec.disp_scale},
               "extra_attrs": list(editor.extra_attrs), "size": size, "step": editor.step,
               **(meta or {})}
    atomic_write_text(path.with_suffix(path.suffix + ".json"), json.dumps(sidecar, indent=1))
    return sidecar


def check_onnx(editor: Editor, path: str | Path, batch: int = 3, seed: int = 1) -> float:
    """Run the exported graph with onnxruntime on random inputs; the max |ONNX - PyTorch| difference."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise AucganError('checking the ONNX graph needs onnxruntime (pip install "aucgan[onnx]")') from None
    inputs = example_inputs(editor.G, editor.size, batch=batch, seed=seed)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["out"], {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        ref = GeneratorGraph(editor).eval()(*inputs.values()).numpy()
    return float(abs(got - ref).max())
