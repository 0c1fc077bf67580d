"""Tests for nnsweep.datasets: digits, the real MNIST files, synthetic IDX/CSV/NPZ files."""

import dataclasses
import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from nnsweep.datasets import DATASETS, Dataset, DatasetError, idx, load_dataset

IDX_NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def shared_data_root() -> Path:
    env = os.environ.get("NNSWEEP_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --- digits ---------------------------------------------------------------------------------


def test_digits_is_the_default_and_scaled():
    d = load_dataset()
    assert d.name == "digits" and d.source == "sklearn.datasets.load_digits"
    assert d.X_train.shape == (1797, 64) and d.X_train.dtype == np.float32
    assert d.y_train.shape == (1797,) and d.y_train.dtype == np.int64
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert d.classes.tolist() == list(range(10)) and d.n_features == 64
    assert d.X_test is None and d.y_test is None


def test_dataset_is_frozen_and_read_only():
    d = load_dataset("digits")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"
    with pytest.raises(ValueError, match="read-only"):
        d.X_train[0, 0] = 1.0
    assert "(1797, 64)" in repr(d)


def test_unknown_name_lists_known_names():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar10'") as err:
        load_dataset("cifar10")
    for name in DATASETS:
        assert name in str(err.value)


def test_path_is_rejected_for_builtin_datasets(tmp_path):
    with pytest.raises(DatasetError, match="path="):
        load_dataset("digits", path=tmp_path / "x.csv")


# --- the real MNIST / Fashion-MNIST files ----------------------------------------------------

REAL = {
    "mnist": {
        "first_train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
        "first_test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
        "train_counts": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        "test_counts": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        "train_mean": 33.318,
    },
    "fashion-mnist": {
        "train_counts": [6000] * 10,
        "test_counts": [1000] * 10,
        "train_mean": 72.940,
    },
}


@pytest.fixture(scope="module", params=list(REAL))
def real(request):
    root = shared_data_root()
    if not (root / request.param).is_dir():
        pytest.fail(
            f"shared data not found: {root / request.param} does not exist. CI provides it; "
            "locally set NNSWEEP_DATA_DIR to the folder holding mnist/ and fashion-mnist/."
        )
    return load_dataset(request.param, data_dir=root)


def test_real_idx_shapes_dtypes_range(real):
    d = real
    assert d.X_train.shape == (60000, 784) and d.X_test.shape == (10000, 784)
    assert d.y_train.shape == (60000,) and d.y_test.shape == (10000,)
    assert d.X_train.dtype == d.X_test.dtype == np.float32
    assert d.y_train.dtype == d.y_test.dtype == np.int64
    for X in (d.X_train, d.X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    assert Path(d.source).samefile(shared_data_root() / d.name)


def test_real_idx_labels_and_pixels(real):
    d = real
    want = REAL[d.name]
    assert np.bincount(d.y_train).tolist() == want["train_counts"]
    assert np.bincount(d.y_test).tolist() == want["test_counts"]
    if "first_train" in want:
        assert d.y_train[:10].tolist() == want["first_train"]
        assert d.y_test[:10].tolist() == want["first_test"]
    mean = d.X_train.mean(dtype=np.float64)
    assert mean == pytest.approx(want["train_mean"] / 255, abs=1e-3)


def test_real_digests_differ(real):
    d = real
    assert d.digest != load_dataset("digits").digest
    assert len(d.digest) == 16 and int(d.digest, 16) >= 0


# --- synthetic IDX files ---------------------------------------------------------------------


def idx_bytes(magic, dims, payload):
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + bytes(payload)


def write_idx_set(folder, n_train=6, n_test=4, seed=0):
    """Write a valid four-file IDX set; return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(0x803, (n, 28, 28), images.tobytes()))
        )
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(0x801, (n,), labels.tobytes()))
        )
        arrays[prefix] = images, labels
    return arrays


@pytest.mark.parametrize("direct", [False, True], ids=["root", "folder"])
def test_synthetic_idx_loads(tmp_path, direct):
    arrays = write_idx_set(tmp_path / "mnist")
    d = load_dataset("mnist", data_dir=tmp_path / "mnist" if direct else tmp_path)
    images, labels = arrays["train"]
    np.testing.assert_array_equal(d.X_train, images.reshape(6, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(d.y_train, labels)
    assert d.X_test.shape == (4, 784) and d.y_test.tolist() == [0, 1, 2, 3]
    assert d.source == str(tmp_path / "mnist")


def test_env_var_is_used(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "fashion-mnist")
    monkeypatch.setenv("NNSWEEP_DATA_DIR", str(tmp_path))
    assert load_dataset("fashion-mnist").source == str(tmp_path / "fashion-mnist")


def test_wrong_dataset_folder_is_rejected(tmp_path):
    write_idx_set(tmp_path / "mnist")
    with pytest.raises(DatasetError, match="is the 'mnist' folder"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "mnist")


def test_missing_data_dir_names_every_place_looked(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", data_dir=missing)
    msg = str(err.value)
    for place in (missing / "mnist", missing):
        assert f"{place};" in msg or f"{place}." in msg
    for name in IDX_NAMES:
        assert name in msg
    assert "NNSWEEP_DATA_DIR" in msg and "data_dir" in msg


def test_default_search_names_cwd_and_repo_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("NNSWEEP_DATA_DIR", raising=False)
    monkeypatch.setattr(idx, "_REPO_DATA", tmp_path / "repo" / "shared" / "data")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert str(tmp_path / "a" / "shared" / "data" / "fashion-mnist") in msg
    assert str(tmp_path / "repo" / "shared" / "data" / "fashion-mnist") in msg


def test_partial_idx_set_names_missing_file(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="missing t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path)


CORRUPT = {
    "wrong magic": (
        "train-images-idx3-ubyte.gz",
        gzip.compress(idx_bytes(0x801, (6, 28, 28), bytes(6 * 784))),
        "magic number 0x00000801, expected 0x00000803",
    ),
    "labels file given images magic": (
        "t10k-labels-idx1-ubyte.gz",
        gzip.compress(idx_bytes(0x803, (4,), bytes(4))),
        "magic number",
    ),
    "truncated payload": (
        "train-images-idx3-ubyte.gz",
        gzip.compress(idx_bytes(0x803, (6, 28, 28), bytes(6 * 784 - 10))),
        "truncated",
    ),
    "wrong image size": (
        "train-images-idx3-ubyte.gz",
        gzip.compress(idx_bytes(0x803, (6, 27, 28), bytes(6 * 27 * 28))),
        r"expected \(N, 28, 28\)",
    ),
    "count mismatch": (
        "train-labels-idx1-ubyte.gz",
        gzip.compress(idx_bytes(0x801, (5,), bytes(5))),
        "6 images but .* 5 labels",
    ),
    "label out of range": (
        "t10k-labels-idx1-ubyte.gz",
        gzip.compress(idx_bytes(0x801, (4,), bytes([0, 1, 2, 10]))),
        "labels must be 0..9",
    ),
    "short header": ("t10k-labels-idx1-ubyte.gz", gzip.compress(b"\x00\x00"), "too short"),
    "not gzip": ("train-labels-idx1-ubyte.gz", idx_bytes(0x801, (6,), bytes(6)), "gzip"),
    "truncated gzip": (
        "t10k-images-idx3-ubyte.gz",
        gzip.compress(idx_bytes(0x803, (4, 28, 28), bytes(4 * 784)))[:-12],
        "gzip",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_idx_names_the_file(tmp_path, case):
    write_idx_set(tmp_path)
    file_name, raw, expected = CORRUPT[case]
    (tmp_path / file_name).write_bytes(raw)
    with pytest.raises(DatasetError, match=expected) as err:
        load_dataset("mnist", data_dir=tmp_path)
    assert file_name in str(err.value)


# --- CSV ---------------------------------------------------------------------------------------


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_loads_with_string_labels(tmp_path):
    path = write(tmp_path, "a,species,b\n1,cat,2.5\n3,dog,-4\n5, cat ,6e1\n")
    d = load_dataset("csv", path=path, label_column="species")
    np.testing.assert_array_equal(d.X_train, np.array([[1, 2.5], [3, -4], [5, 60]], np.float32))
    assert d.X_train.dtype == np.float32
    assert d.y_train.tolist() == ["cat", "dog", "cat"] and d.classes.tolist() == ["cat", "dog"]
    assert d.name == "data.csv" and d.source == str(path) and d.X_test is None
    assert len(d.digest) == 16


def test_csv_integer_labels_and_name_as_path(tmp_path):
    path = write(tmp_path, "label,x\n0,1\n1,2\n\n2,3\n")  # blank lines are skipped
    d = load_dataset(str(path))
    assert d.y_train.dtype == np.int64 and d.y_train.tolist() == [0, 1, 2]
    assert d.X_train.shape == (3, 1)


@pytest.mark.parametrize("cell", ["", "nan", "NaN", " "])
def test_csv_missing_value_names_file_line_and_column(tmp_path, cell):
    path = write(tmp_path, f"label,x,y\n0,1,2\n1,{cell},3\n")
    with pytest.raises(DatasetError, match="missing value") as err:
        load_dataset("csv", path=path)
    msg = str(err.value)
    assert str(path) in msg and "line 3" in msg and "column 'x'" in msg


def test_csv_non_numeric_feature(tmp_path):
    path = write(tmp_path, "label,x,y\n0,1,2\n1,3,abc\n")
    with pytest.raises(DatasetError, match=r"line 3, column 'y': bad value 'abc'"):
        load_dataset("csv", path=path)


def test_csv_missing_label(tmp_path):
    path = write(tmp_path, "label,x\n0,1\n,2\n")
    with pytest.raises(DatasetError, match=r"line 3, column 'label': missing label"):
        load_dataset("csv", path=path)


def test_csv_unknown_label_column_lists_columns(tmp_path):
    path = write(tmp_path, "target,x,y\n0,1,2\n1,3,4\n")
    with pytest.raises(DatasetError) as err:
        load_dataset("csv", path=path)
    msg = str(err.value)
    assert "'label'" in msg and "['target', 'x', 'y']" in msg and str(path) in msg


def test_csv_single_class(tmp_path):
    path = write(tmp_path, "label,x\n1,1\n1,2\n")
    with pytest.raises(DatasetError, match=r"only one class \(1\)"):
        load_dataset("csv", path=path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty file"),
        ("label,x\n", "no data rows"),
        ("label\n0\n1\n", "at least one feature column"),
        ("label,x\n0,1\n1,2,3\n", "line 3: 3 cells, header has 2"),
    ],
    ids=["empty", "header-only", "no-features", "ragged"],
)
def test_csv_bad_shape(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError, match=expected) as err:
        load_dataset("csv", path=path)
    assert str(path) in str(err.value)


def test_csv_and_npz_need_an_existing_path(tmp_path):
    with pytest.raises(DatasetError, match="needs path="):
        load_dataset("csv")
    with pytest.raises(DatasetError, match="file not found: .*nope.npz"):
        load_dataset("npz", path=tmp_path / "nope.npz")


# --- NPZ ---------------------------------------------------------------------------------------


def test_npz_loads_with_test_split(tmp_path):
    path = tmp_path / "d.npz"
    X, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    np.savez(path, X=X, y=y, X_test=X[:2], y_test=y[:2])
    d = load_dataset("npz", path=path)
    assert d.X_train.dtype == d.X_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.tolist() == [0, 1]
    np.testing.assert_array_equal(d.X_train, X)


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"X": np.ones((2, 2))}, r"missing array\(s\) \['y'\].*found \['X'\]"),
        ({"X": np.ones((2, 2)), "y": [0, 1], "X_test": np.ones((1, 2))}, "X_test/y_test"),
        ({"X": np.ones((2, 2)), "y": [0, 1, 1]}, "expected X of shape"),
        ({"X": np.ones((2, 2)), "y": [0.5, 1.5]}, "integers or strings"),
        ({"X": np.array([[1.0, np.nan], [0, 0]]), "y": [0, 1]}, "finite numbers"),
    ],
    ids=["no-y", "unpaired-test", "length", "float-labels", "nan"],
)
def test_npz_errors(tmp_path, arrays, expected):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=expected):
        load_dataset(str(path))


def test_npz_not_a_zip(tmp_path):
    path = write(tmp_path, "hello", name="d.npz")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset("npz", path=path)


# --- digest --------------------------------------------------------------------------------


def test_digest_is_deterministic_and_content_based(tmp_path):
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.digest == b.digest and a is not b
    write_idx_set(tmp_path / "one", seed=1)
    write_idx_set(tmp_path / "two", seed=2)
    one = load_dataset("mnist", data_dir=tmp_path / "one")
    assert one.digest == load_dataset("mnist", data_dir=tmp_path / "one").digest
    assert one.digest != load_dataset("mnist", data_dir=tmp_path / "two").digest
    assert one.digest != a.digest
    # Same content from CSV and NPZ: same digest; one changed value: a different one.
    csv_path = write(tmp_path, "label,x,y\n0,1,2\n1,3,4\n")
    np.savez(tmp_path / "d.npz", X=[[1.0, 2.0], [3.0, 4.0]], y=[0, 1])
    np.savez(tmp_path / "e.npz", X=[[1.0, 2.0], [3.0, 5.0]], y=[0, 1])
    from_csv = load_dataset(str(csv_path))
    assert from_csv.digest == load_dataset(str(tmp_path / "d.npz")).digest
    assert from_csv.digest != load_dataset(str(tmp_path / "e.npz")).digest
    with_test = Dataset(
        "t", from_csv.X_train, from_csv.y_train, from_csv.X_train, from_csv.y_train, source="test"
    )
    assert with_test.digest != from_csv.digest
