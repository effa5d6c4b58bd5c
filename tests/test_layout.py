import numpy as np
import pytest

from badpix.errors import LayoutError
from badpix.layout import Band, channel_layout, load_layout, parse_layout, preset_names


def test_preset_l2_l1_m0_matches_sensor_team_rows():
    lay = load_layout("l2-l1-m0").bind((768, 640, 3))
    assert "l2-l1-m0" in preset_names()
    assert [(b.name, b.channel, b.rows, b.cols) for b in lay] == [
        ("L2", 0, (0, 100), (0, 640)),
        ("L1", 1, (349, 419), (0, 640)),
        ("M0", 2, (668, 768), (0, 640)),
    ]
    assert lay["L1"].shape == (70, 640)


def test_band_view_selects_rows_cols_and_channel():
    frames = np.arange(2 * 6 * 5 * 3).reshape(2, 6, 5, 3)
    b = Band("x", 2, (1, 4), (2, 5))
    np.testing.assert_array_equal(b.view(frames), frames[:, 1:4, 2:5, 2])
    np.testing.assert_array_equal(b.view_frame(frames[1]), frames[1, 1:4, 2:5, 2])


def test_band_outside_frame_is_a_clear_error():
    with pytest.raises(LayoutError, match=r"band 'M0' is outside the frame: rows \[668, 768\)"):
        load_layout("l2-l1-m0").bind((700, 64, 3))
    with pytest.raises(LayoutError, match="channel 2"):
        load_layout("l2-l1-m0").bind((768, 64, 2))


def test_layout_from_toml_file(tmp_path):
    p = tmp_path / "lay.toml"
    p.write_text('[bands.a]\nchannel = 0\nrows = [0, 2]\ncols = [1, 3]\n[bands.b]\nrows = [2, 4]\n')
    lay = load_layout(p).bind((4, 5, 1))
    assert [(b.name, b.rows, b.cols) for b in lay] == [("a", (0, 2), (1, 3)), ("b", (2, 4), (0, 5))]


@pytest.mark.parametrize("text, message", [
    ("bands = 3", "needs a \\[bands.NAME\\] table"),
    ("[bands.a]\nrows = [5, 2]", "empty or negative"),
    ("[bands.a]\nrows = 'x'", "two integers"),
    ("[bands.a]\nrow = [0, 1]", "unknown keys"),
    ("[bands.a\n", "not valid TOML"),
])
def test_malformed_layouts(tmp_path, text, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(LayoutError, match=message):
        load_layout(p)


def test_unknown_layout_name():
    with pytest.raises(LayoutError, match="neither a preset"):
        load_layout("no-such-layout")


def test_default_layout_is_one_band_per_channel():
    lay = channel_layout(("R", "G", "B")).bind((4, 5, 3))
    assert [(b.name, b.channel, b.shape) for b in lay] == [("R", 0, (4, 5)), ("G", 1, (4, 5)),
                                                          ("B", 2, (4, 5))]


def test_parse_layout_rejects_non_table_band():
    with pytest.raises(LayoutError, match="must be a table"):
        parse_layout({"bands": {"a": 3}}, "x")
