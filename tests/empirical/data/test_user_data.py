"""Every data form the audit reads (IDX with and without the paper's padding, tensor files, image folders) and the
checks that stop a mismatch before any work, in one line."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from empirical.data.idx import read_idx
from empirical.data.transforming import pool_size, transforming
from empirical.data.user_data import audit_groups, check_fit, load_data
from empirical.data.user_model import InputError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "data"


def test_idx_with_the_papers_padding_is_the_transforming_test_split_moved_as_table1_moves_it():
    data = load_data("mnist", FIXTURE, "paper", groups=["R4", "T3"])
    pool = pool_size("mnist", FIXTURE)  # 358: the fixture is split 1/2, 1/10, the rest
    ds = transforming("mnist", "T3", 0, data_dir=FIXTURE, n_train=pool // 2, n_val=pool // 10,
                      n_test=pool - pool // 2 - pool // 10)
    assert data.x.shape == (144, 1, 36, 36) and torch.equal(data.x, ds.test.images)
    assert torch.equal(data.moved["T3"], ds.test.g) and set(data.moved) == {"R4", "T3"}
    assert data.baseline == pytest.approx(ds.black) and int(data.y.max()) <= 8
    assert "subset" in data.description  # the fixture is not the official data: said so
    assert len(load_data("mnist", FIXTURE, "paper", groups=["R4"], limit=10)) == 10


def test_idx_without_padding_and_an_idx_folder_are_the_t10k_files_as_they_are():
    raw = read_idx(FIXTURE / "mnist" / "t10k-images-idx3-ubyte.gz")
    for spec, data_dir in (("mnist", FIXTURE), (str(FIXTURE / "mnist"), None)):
        data = load_data(spec, data_dir, "none")
        assert data.x.shape == (100, 1, 28, 28) and data.baseline == 0.0 and not data.moved
        torch.testing.assert_close(data.x[:, 0], torch.from_numpy(raw.astype(np.float32)) / 255)
        assert int(data.y.max()) == 9


def test_tensor_files_pt_and_npz(tmp_path):
    x = torch.randint(0, 256, (5, 1, 6, 6), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 1, 0])
    torch.save({"images": x, "labels": y}, tmp_path / "d.pt")
    torch.save((x.float(), y), tmp_path / "pair.pt")
    torch.save(x[:, 0].double(), tmp_path / "bare.pt")
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=y.numpy())
    for name in ("d.pt", "d.npz"):
        d = load_data(str(tmp_path / name))
        torch.testing.assert_close(d.x, x.float() / 255)
        assert torch.equal(d.y, y)
    assert torch.equal(load_data(str(tmp_path / "pair.pt")).x, x.float())  # floats as they are
    bare = load_data(str(tmp_path / "bare.pt"))
    assert bare.x.shape == (5, 1, 6, 6) and bare.x.dtype == torch.float64 and bare.y is None
    torch.save({"x": x, "y": torch.tensor([0.5] * 5)}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="labels must be 5 integers"):
        load_data(str(tmp_path / "bad.pt"))
    torch.save({"w": x}, tmp_path / "nox.pt")
    with pytest.raises(InputError, match="no inputs found"):
        load_data(str(tmp_path / "nox.pt"))


def test_an_image_folder_one_subfolder_per_class(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(2):
            a = rng.integers(0, 256, (6, 5), dtype=np.uint8)
            Image.fromarray(a, "L").save(tmp_path / c / f"{i}.png")
            pixels[(c, i)] = a
    d = load_data(str(tmp_path))
    assert d.x.shape == (4, 1, 6, 5) and d.classes == ("cat", "dog") and d.y.tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(d.x[2, 0], torch.from_numpy(pixels[("dog", 0)]).float() / 255)
    Image.fromarray(rng.integers(0, 256, (7, 5, 3), dtype=np.uint8), "RGB").save(tmp_path / "dog" / "big.png")
    with pytest.raises(InputError, match="2 sizes"):
        load_data(str(tmp_path))


def test_checks_before_work_shape_labels_groups_and_unknown_data(tmp_path):
    torch.save({"x": torch.rand(4, 1, 28, 28), "y": torch.tensor([0, 1, 9, 2])}, tmp_path / "d.pt")
    data = load_data(str(tmp_path / "d.pt"))
    paper = nn.Sequential(nn.Flatten(), nn.Linear(36 * 36, 9))
    with pytest.raises(InputError, match=r"does not take the data's inputs of shape \(2, 1, 28, 28\)") as err:
        check_fit(paper, data)
    assert "\n" not in str(err.value)
    nine = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 9))
    with pytest.raises(InputError, match="labels up to 9 but the model has 9 outputs"):
        check_fit(nine, data)
    assert check_fit(nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)), data) == 10
    torch.save({"x": torch.rand(3, 1, 28, 20)}, tmp_path / "wide.pt")
    with pytest.raises(InputError, match="--groups R4: R4 needs square images"):
        audit_groups(["F2", "R4"], load_data(str(tmp_path / "wide.pt")))
    with pytest.raises(InputError, match="not mnist / fashion-mnist"):
        load_data(str(tmp_path / "nothing.csv"))
