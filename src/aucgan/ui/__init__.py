"""The interactive AU editor in the browser (optional extra ``aucgan[ui]``).

Everything but the page works without Gradio: :mod:`aucgan.ui.uploads` checks uploaded files (size, image
headers, map-set names and sizes, side JSON files); :mod:`aucgan.ui.sources` makes the faces to edit (test
identities of the run's data, synthetic identities, uploaded map sets, photos); :mod:`aucgan.ui.views` renders
what the page shows (albedo, shaded displacement, normal map, relit render, change heatmap with AU footprints
outlined); :mod:`aucgan.ui.core` holds the session: one model load (an :class:`aucgan.inference.Editor`), each
source encoded once, then only the decoder runs per slider move, and the downloads. :mod:`aucgan.ui.app` builds
the Gradio page around it; its callbacks are plain functions of plain values, tested without a browser.
"""

from aucgan.errors import AucganError


class UIError(AucganError, ValueError):
    """Bad input to the editor (a file, its size, a run directory, a value): shown as a message in the page."""
