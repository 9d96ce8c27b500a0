import json

import numpy as np
import pytest
import torch
from PIL import Image

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.data.codec import MapCodec
from aucgan.data.mapio import load_displacement, load_rgb
from aucgan.errors import AucganError
from aucgan.export.maps import have_openexr, write_map_set
from aucgan.export.mesh import height_field, write_obj
from aucgan.export.onnx import check_onnx, export_onnx, generator_inputs
from aucgan.inference import Editor
from aucgan.layout.landmarks import canonical_layout
from aucgan.models.generator import MapGenerator
from aucgan.models.interface import GeneratorInterfaceError
from aucgan.render.normals import decode_normal, displacement_to_normal

from tests.tiny import TINY


def _maps(size=32):
    g = torch.Generator().manual_seed(0)
    disp = 0.004 * torch.randn(1, size, size, generator=g)
    return {"albedo": torch.rand(3, size, size, generator=g), "displacement": disp}


def test_write_map_set_round_trips(tmp_path):
    maps = _maps()
    lm = canonical_layout().landmarks
    side = write_map_set(tmp_path, maps, landmarks=lm, au={"AU12": 3.0}, meta={"step": 5}, turntable_views=4)
    files = side["files"]
    for key in ("albedo", "displacement", "normal", "turntable"):
        assert (tmp_path / files[key]).is_file(), key
    card = json.loads((tmp_path / "face.json").read_text())
    assert card["au"] == {"AU12": 3.0} and card["step"] == 5 and len(card["layout"]["landmarks"]) == 68
    d = card["displacement"]
    back = load_displacement(tmp_path / files["displacement"], d["scale"], d["offset"])
    assert float((back - maps["displacement"]).abs().max()) <= d["scale"] / 65535
    with Image.open(tmp_path / files["displacement"]) as img:
        assert img.mode.startswith("I;16") or img.mode == "I"
    with Image.open(tmp_path / files["albedo"]) as img:
        assert "srgb" in img.info
    assert float((load_rgb(tmp_path / files["albedo"]) - maps["albedo"]).abs().max()) <= 0.5 / 255 + 1e-6
    normal = decode_normal(load_rgb(tmp_path / files["normal"]))
    assert float((normal - displacement_to_normal(maps["displacement"][None])[0]).abs().max()) < 0.02
    with Image.open(tmp_path / files["turntable"]) as img:
        assert img.size == (4 * 32, 32)
    if have_openexr():
        import OpenEXR

        with OpenEXR.File(str(tmp_path / files["displacement_exr"])) as f:
            np.testing.assert_allclose(f.channels()["Y"].pixels, maps["displacement"][0].numpy(), atol=1e-7)
    else:
        assert "displacement_exr" not in files


def test_write_map_set_writes_image_maps_and_only_its_files(tmp_path):
    side = write_map_set(tmp_path, {"image": torch.rand(3, 16, 16)}, landmarks=None, prefix="edited",
                         meta={"source": "x"}, turntable_views=0)
    assert side["files"] == {"image": "edited_image.png"} and side["source"] == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.json", "edited_image.png"]   # no temporaries
    with pytest.raises(AucganError, match="nothing to export: the map set has \\['normal'\\]"):
        write_map_set(tmp_path / "n", {"normal": torch.rand(3, 16, 16)}, landmarks=None)


def test_height_field_mesh(tmp_path):
    lm = canonical_layout().landmarks
    flat = torch.zeros(1, 64, 64)
    verts, uvs, tris = height_field(lm, flat, grid=48)
    assert verts.shape[1] == 3 and uvs.shape == (len(verts), 2) and tris.max() < len(verts)
    assert 0.3 * 48 * 48 < len(verts) < 48 * 48          # the face, not the whole square
    assert uvs.min() >= 0 and uvs.max() <= 1
    assert float(verts[:, 2].max()) > 0.05                # a dome with a nose
    bumped = flat + 0.01
    v2, _, _ = height_field(lm, bumped, grid=48)
    np.testing.assert_allclose(v2[:, 2] - verts[:, 2], 0.01, atol=1e-6)
    files = write_obj(tmp_path, lm, flat, {"albedo": "face_albedo.png", "normal": "face_normal.png"}, grid=32)
    obj = (tmp_path / files["obj"]).read_text().splitlines()
    nv = sum(line.startswith("v ") for line in obj)
    assert nv == sum(line.startswith("vt ") for line in obj) == sum(line.startswith("vn ") for line in obj)
    faces = [line for line in obj if line.startswith("f ")]
    assert faces and max(int(p.split("/")[0]) for f in faces for p in f.split()[1:]) == nv
    assert "mtllib face.mtl" in obj
    assert "map_Kd face_albedo.png" in (tmp_path / files["mtl"]).read_text()


def test_onnx_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'aucgan[onnx]')")
    G = MapGenerator(4, 4, extra_dim=2, conditioning=["adain", "spade_au"], base_channels=8, max_channels=16,
                     num_down=2, image_size=16).eval()
    assert generator_inputs(G) == ["maps", "au", "footprints", "extra"]
    editor = Editor(G, MapCodec(("displacement", "albedo")), AU_NAMES, 16, step=7)
    side = export_onnx(editor, tmp_path / "g.onnx", meta={"checkpoint": "memory"})
    assert side["inputs"]["footprints"]["shape"] == ["batch", 17, 16, 16]
    assert side["step"] == 7 and side["au_names"] == list(AU_NAMES) and side["checkpoint"] == "memory"
    assert side["codec"]["maps"] == ["displacement", "albedo"] and side["size"] == 16
    g = torch.Generator().manual_seed(5)
    x, au = torch.rand(3, 4, 16, 16, generator=g) * 2 - 1, torch.rand(3, 17, generator=g)
    fp, extra = torch.rand(3, 17, 16, 16, generator=g), torch.rand(3, 2, generator=g)
    sess = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["out"], {"maps": x.numpy(), "au": au.numpy(), "footprints": fp.numpy(), "extra": extra.numpy()})
    with torch.no_grad():
        ref = G(x, au, fp, extra)["out"].numpy()
    np.testing.assert_allclose(got[0], ref, atol=1e-4, rtol=0)
    assert check_onnx(editor, tmp_path / "g.onnx") < 1e-4


def test_onnx_matches_pytorch_with_the_flow(tmp_path):
    """residual_flow resamples the source (grid_sample): the exported graph moves it the same way."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'aucgan[onnx]')")
    G = MapGenerator(4, 4, extra_dim=2, conditioning=["adain", "spade_au"], base_channels=8, max_channels=16,
                     num_down=2, image_size=16, head="au_residual", residual_flow=True).eval()
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():                     # the flow head starts at zero: give it a flow to export
        G.flow_head.weight.copy_(torch.randn(G.flow_head.weight.shape, generator=g))
    editor = Editor(G, MapCodec(("displacement", "albedo")), AU_NAMES, 16)
    export_onnx(editor, tmp_path / "g.onnx")
    x, au, src_au = torch.rand(3, 4, 16, 16, generator=g) * 2 - 1, torch.rand(3, 17, generator=g), \
        torch.rand(3, 17, generator=g)
    fp, extra = torch.rand(3, 17, 16, 16, generator=g), torch.rand(3, 2, generator=g)
    with torch.no_grad():
        out = G(x, au, fp, extra, source_au=src_au)
    assert out["flow"].abs().amax() > 1e-3     # the source really moves
    sess = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["out"], {"maps": x.numpy(), "au": au.numpy(), "footprints": fp.numpy(), "extra": extra.numpy(),
                             "source_au": src_au.numpy()})
    np.testing.assert_allclose(got[0], out["out"].numpy(), atol=1e-4, rtol=0)
    assert check_onnx(editor, tmp_path / "g.onnx") < 1e-4


def test_onnx_inputs_follow_the_generator_interface():
    relative = MapGenerator(4, 4, conditioning="adain", base_channels=8, max_channels=16, num_down=2, image_size=16,
                            au_mode="relative")
    assert generator_inputs(relative) == ["maps", "au", "source_au"]
    residual = MapGenerator(4, 4, extra_dim=3, conditioning="adain", base_channels=8, max_channels=16, num_down=2,
                            image_size=16, head="au_residual")
    assert generator_inputs(residual) == ["maps", "au", "footprints", "extra", "source_au"]
    with pytest.raises(GeneratorInterfaceError, match="Linear does not implement the generator interface"):
        Editor(torch.nn.Linear(2, 2), MapCodec(("albedo",)), AU_NAMES, 16)


@pytest.fixture(scope="module")
def tiny_run(tiny_bench, tiny_aunet, tmp_path_factory):
    run = tmp_path_factory.mktemp("export") / "run"
    sets = sum((["--set", s] for s in TINY), [])
    assert main(["train", "--config", "improved", "--data", str(tiny_bench), "--aunet", str(tiny_aunet),
                 "--run-dir", str(run), "--steps", "1", "--no-progress", *sets]) == 0
    return run


def test_export_cli(tiny_bench, tiny_run, tmp_path, capsys):
    source = next(line.split(",")[0] for line in (tiny_bench / "manifest.csv").read_text().splitlines()[1:])
    out = tmp_path / "face"
    assert main(["export-maps", str(tiny_run), "--data", str(tiny_bench), "--source", source, "--au", "AU12=4",
                 "--out", str(out), "--views", "3", "--mesh-grid", "24"]) == 0
    for name in ("face_albedo.png", "face_displacement.png", "face_normal.png", "face_turntable.png", "face.json",
                 "face.obj", "face.mtl"):
        assert (out / name).is_file(), name
    card = json.loads((out / "face.json").read_text())
    assert card["au"]["AU12"] == 4.0 and card["layout"]["name"] == "synthetic" and card["source"] == source
    assert main(["export-maps", str(tiny_run), "--data", str(tiny_bench), "--source", source, "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    onnx_path = tmp_path / "g.onnx"
    assert main(["export-onnx", str(tiny_run), "--out", str(onnx_path)]) == 0
    side = json.loads((tmp_path / "g.onnx.json").read_text())
    assert side["codec"]["maps"] == ["displacement", "albedo"] and "footprints" in side["inputs"]
    assert main(["export-onnx", str(tiny_run), "--out", str(tmp_path / "g.txt")]) == 2
