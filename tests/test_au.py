import numpy as np
import pytest

from aucgan import au
from aucgan.au import AUError


@pytest.mark.parametrize("spelling", ["AU06", "AU6", "au6", "6", "06", " AU06_r ", 6])
def test_canonical_au_accepts_common_spellings(spelling):
    assert au.canonical_au(spelling) == "AU06"


@pytest.mark.parametrize("bad", ["AU99", "AU3", "smile", "", "AU6x", 3.5])
def test_canonical_au_rejects_unknown(bad):
    with pytest.raises(AUError):
        au.canonical_au(bad)


def test_order_is_openface17():
    assert au.AU_NAMES[0] == "AU01" and au.AU_NAMES[-1] == "AU45"
    assert len(au.AU_NAMES) == au.NUM_AUS == 17
    assert all(code in au.AU_CATALOGUE for code in au.AU_NAMES)


def test_parse_spec_mixed_spellings():
    assert au.parse_au_spec("AU12=3.5,AU6=2") == {"AU12": 3.5, "AU06": 2.0}
    assert au.parse_au_spec("12:1 45:5") == {"AU12": 1.0, "AU45": 5.0}


@pytest.mark.parametrize("spec, fragment", [
    ("AU12=7", "outside 0..5"), ("AU12=-1", "outside 0..5"), ("AU99=1", "unknown AU"),
    ("AU12", "NAME=VALUE"), ("AU12=abc", "not a number"), ("AU12=1,AU12=2", "twice"),
    ("AU12=nan", "not finite"), ("", "empty"),
])
def test_parse_spec_errors_are_clear(spec, fragment):
    with pytest.raises(AUError, match=fragment):
        au.parse_au_spec(spec)


def test_subsets_by_name_not_index():
    disfa = au.au_set("disfa12")
    idx = au.au_indices(disfa[:3])
    assert [au.AU_NAMES[i] for i in idx] == list(disfa[:3])
    with pytest.raises(AUError, match="not in this AU set"):
        au.au_indices(["AU24"])  # BP4D's AU24 is not an OpenFace intensity AU
    with pytest.raises(AUError, match="valid sets"):
        au.au_set("nope")
    assert au.au_set(["AU6", "12"]) == ("AU06", "AU12")


def test_vector_format_and_scaling_round_trip():
    vec = au.au_vector(au.parse_au_spec("AU12=3,AU06=2"))
    assert vec.dtype == np.float32 and vec[au.AU_NAMES.index("AU12")] == 3.0
    assert au.parse_au_spec(au.format_au(vec)) == {"AU06": 2.0, "AU12": 3.0}
    assert au.format_au(np.zeros(17)) == "neutral"
    np.testing.assert_allclose(au.from_unit(au.to_unit(vec)), vec)
    assert au.to_unit(5.0) == 1.0


def test_prototypes_use_known_aus():
    for emotion, codes in au.PROTOTYPES.items():
        v = au.prototype_vector(emotion, 2.0)
        assert v.sum() == pytest.approx(2.0 * len(codes))
    with pytest.raises(AUError):
        au.prototype_vector("joy")
