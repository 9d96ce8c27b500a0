import pytest

from aucgan.errors import AucganError
from aucgan.nn.registry import Registry, UnknownNameError


def test_register_get_names_contains():
    reg = Registry("widget")

    @reg.register("b")
    class B:
        pass

    a = object()
    assert reg.register("a")(a) is a
    assert reg.get("b") is B and reg.get("a") is a
    assert reg.names() == ("b", "a")
    assert "a" in reg and "c" not in reg and 3 not in reg
    assert list(reg) == ["b", "a"] and len(reg) == 2


def test_unknown_name_lists_valid_names_and_is_keyerror():
    reg = Registry("widget")
    reg.register("alpha")(1)
    reg.register("beta")(2)
    with pytest.raises(UnknownNameError) as info:
        reg.get("gamma")
    assert isinstance(info.value, KeyError) and isinstance(info.value, AucganError)
    assert str(info.value) == "unknown widget 'gamma'; valid widget names: alpha, beta"
    with pytest.raises(KeyError, match="alpha, beta"):
        reg.get(["unhashable"])


def test_duplicate_name_refused_but_same_object_is_idempotent():
    reg = Registry("widget")
    obj = object()
    reg.register("x")(obj)
    reg.register("x")(obj)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(object())
    with pytest.raises(ValueError, match="non-empty"):
        reg.register("")


def test_empty_registry_message():
    with pytest.raises(UnknownNameError, match="none registered"):
        Registry("thing").get("x")


def test_module_example():
    import doctest

    import aucgan.nn.registry as registry_module

    result = doctest.testmod(registry_module, verbose=False)
    assert result.attempted > 0 and result.failed == 0
