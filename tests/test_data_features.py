"""Feature files: deterministic npz writing, checked reading, multi-folder concatenation."""

import numpy as np
import pytest

from vtg.data.features import load_text_features, load_video_features
from vtg.data.npz import read_npz_array, write_npz
from vtg.errors import UserError


def test_write_npz_is_byte_identical_and_loadable(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_npz(tmp_path / "a.npz", features=array, other=array[:1])
    write_npz(tmp_path / "b.npz", other=array[:1], features=array)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as loaded:
        np.testing.assert_array_equal(loaded["features"], array)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.ones((3, 4), np.int64), "dtype int64, expected floating point"),
        (np.ones((3,), np.float32), "shape (3,), expected 2-D or 3-D"),
        (np.ones((0, 4), np.float32), "is empty"),
        (np.array([[1.0, np.nan]], np.float32), "contains NaN"),
        (np.array([[1.0, np.inf]], np.float32), "contains inf"),
    ],
)
def test_bad_array_is_a_located_error(tmp_path, array, expected):
    path = tmp_path / "v.npz"
    write_npz(path, features=array)
    with pytest.raises(UserError) as error:
        read_npz_array(path, "features", (2, 3), "video feature file")
    assert str(path) in str(error.value) and expected in str(error.value)


def test_missing_file_key_and_corrupt_file(tmp_path):
    with pytest.raises(UserError, match=r"video feature file not found \(needed by ann.jsonl:3\)"):
        read_npz_array(tmp_path / "v.npz", "features", (2,), "video feature file", "ann.jsonl:3")
    write_npz(tmp_path / "v.npz", feats=np.ones((2, 2), np.float32))
    with pytest.raises(UserError, match="no array 'features' in video feature file \\(has: feats\\)"):
        read_npz_array(tmp_path / "v.npz", "features", (2,), "video feature file")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read video feature file"):
        read_npz_array(tmp_path / "bad.npz", "features", (2,), "video feature file")


def test_folders_are_normalised_truncated_and_concatenated(tmp_path):
    slowfast, clip = tmp_path / "slowfast", tmp_path / "clip"
    slowfast.mkdir(), clip.mkdir()
    rng = np.random.default_rng(0)
    write_npz(slowfast / "v.npz", features=rng.normal(size=(6, 3, 5)).astype(np.float32) * 7)  # one clip more
    write_npz(clip / "v.npz", features=rng.normal(size=(5, 4)).astype(np.float32))  # single level
    video = load_video_features([slowfast, clip], "v")
    assert video.shape == (5, 3, 9) and video.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(video[..., :5], axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(video[:, 0, 5:], video[:, 2, 5:])  # the single level repeated over K


def test_folders_far_apart_in_length_or_levels_are_errors(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write_npz(a / "v.npz", features=np.ones((9, 2, 3), np.float32))
    write_npz(b / "v.npz", features=np.ones((5, 2, 3), np.float32))
    with pytest.raises(UserError, match="disagree on the number of clips"):
        load_video_features([a, b], "v")
    write_npz(b / "v.npz", features=np.ones((9, 3, 3), np.float32))
    with pytest.raises(UserError, match="disagree on the number of levels"):
        load_video_features([a, b], "v")


def test_text_levels_move_behind_tokens(tmp_path):
    tokens = np.random.default_rng(1).normal(size=(2, 7, 4)).astype(np.float32)  # (K, L, D)
    write_npz(tmp_path / "qid5.npz", last_hidden_state=tokens)
    text = load_text_features(tmp_path, 5)
    assert text.shape == (7, 2, 4)
    np.testing.assert_allclose(text[3, 1], tokens[1, 3] / np.linalg.norm(tokens[1, 3]), rtol=1e-5)
    write_npz(tmp_path / "qid6.npz", last_hidden_state=tokens[0])
    assert load_text_features(tmp_path, 6).shape == (7, 1, 4)
