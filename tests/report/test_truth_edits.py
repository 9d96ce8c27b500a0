"""The add/remove rows of the truth-edits picture."""

from __future__ import annotations

import torch

from aucgan.au import to_unit
from aucgan.report.truth_edits import ADD_LEVEL, pick_rows

NAMES = ("AU01", "AU04", "AU12")


def test_rows_add_from_a_face_without_the_au_and_remove_from_its_strongest():
    au5 = torch.tensor([[0.0, 2.0, 0.0],      # identity 0
                        [0.0, 0.0, 4.5],      # identity 0: AU12 strongest here
                        [3.0, 0.0, 0.0],      # identity 1: AU01 strongest here
                        [0.0, 0.0, 0.0]])     # identity 1
    identity = torch.tensor([0, 0, 1, 1])
    rows = pick_rows(to_unit(au5), identity, NAMES)
    by = {(r.au, r.kind): r for r in rows}
    add12 = by[("AU12", "add")]
    assert add12.index == 0 and abs(float(add12.target[2]) - to_unit(ADD_LEVEL)) < 1e-6   # no AU12
    assert torch.equal(add12.target[:2], to_unit(au5[0, :2]))                   # the other AUs kept
    assert by[("AU12", "remove")].index == 1 and float(by[("AU12", "remove")].target[2]) == 0.0
    assert by[("AU01", "remove")].index == 2
    assert [(r.au, r.kind) for r in pick_rows(to_unit(au5), identity, NAMES, only=["AU12"])] == [
        ("AU12", "add"), ("AU12", "remove")]
