"""Export the EMA generator of a training run as ONNX, with its conditioning inputs (dynamic batch size).

Inputs: maps (B, C, S, S) in network scale, au (B, K) = intensity / 5, and where the model needs them
footprints (B, K, S, S), extra (B, E), source_au (B, K); output: out (B, C, S, S). A JSON sidecar
(<out>.json) lists them with the codec and AU names. Runs with onnxruntime (pip install "aucgan[onnx]").

Example:
  aucgan export-onnx runs/00001-improved --out g.onnx
"""

from __future__ import annotations

import argparse

HELP = "export the run's EMA generator as ONNX (with a JSON sidecar describing its inputs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="training run directory (its latest checkpoint, EMA G)")
    p.add_argument("--out", required=True, help="output .onnx file (refused if it exists)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    p.add_argument("--check", action="store_true",
                   help="run the exported graph with onnxruntime and compare it with PyTorch")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")


def run(args: argparse.Namespace) -> int:
    from aucgan.errors import AucganError
    from aucgan.export.onnx import check_onnx, export_onnx
    from aucgan.fsutil import check_output
    from aucgan.inference import Editor

    out = check_output(args.out, force=args.force, what="output file")
    if out.suffix != ".onnx":
        raise AucganError(f"--out {out}: expected a .onnx file name")
    editor = Editor.from_run(args.run_dir)
    sidecar = export_onnx(editor, out, meta={"checkpoint": str(args.run_dir)}, opset=args.opset)
    print(f"wrote {out} (inputs: {', '.join(sidecar['inputs'])}) and {out.name}.json")
    if args.check:
        err = check_onnx(editor, out)
        print(f"onnxruntime vs PyTorch: max |difference| {err:.2e}")
    return 0
