"""Serve the interactive AU editor in the browser (needs the optional extra: pip install 'aucgan[ui]').

One slider per AU (grouped by face region), expression prototypes, lighting, and live views: albedo, shaded
displacement, normal map, relit render and the change heatmap with the moved AUs' footprints outlined. The
face is a test identity of the run's data (recorded in RUN/data.json; --data overrides), a random synthetic
identity, or an uploaded map set. Bound to localhost by default; no analytics, nothing fetched from outside.

Examples:
  aucgan ui --checkpoint runs/00001-improved
  aucgan ui --checkpoint runs/00001-improved --port 7861 --max-upload-mb 5
"""

from __future__ import annotations

import argparse

HELP = "serve the interactive AU editor (Gradio page on 127.0.0.1:7860; needs aucgan[ui])"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="training run directory (its latest checkpoint, EMA G)")
    p.add_argument("--data", help="data set for the test identities (default: the run's own, from data.json)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-upload-mb", type=float, default=None, help="largest accepted upload (default 20 MB)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of Random's choices")


def run(args: argparse.Namespace) -> int:
    import torch

    from aucgan.errors import AucganError
    from aucgan.ui.app import Callbacks, launch
    from aucgan.ui.core import EditorSession
    from aucgan.ui.uploads import MAX_UPLOAD_MB

    if not 1 <= args.port <= 65535:
        raise AucganError(f"--port {args.port}: expected 1..65535")
    limit = MAX_UPLOAD_MB if args.max_upload_mb is None else args.max_upload_mb
    if limit <= 0:
        raise AucganError(f"--max-upload-mb {limit}: expected a positive size")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    session = EditorSession.open(args.checkpoint, data=args.data, device=args.device, max_upload_mb=limit,
                                 seed=args.seed)
    print(f"aucgan ui: {session.describe()}")
    print(f"aucgan ui: serving on http://{args.host}:{args.port} (Ctrl-C stops)")
    launch(Callbacks(session), host=args.host, port=args.port, block=True)
    return 0
