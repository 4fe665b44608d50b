"""Transforming-MNIST / -FMNIST (Sec. 4.1) and the drift D(beta) (Sec. 4.3): on the full data where the
lookup finds it (tests use ../shared/data beside the checkout), and on the committed fixture everywhere."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from empirical.data import transforming as data
from empirical.data import download as dl
from empirical.data.download import FILES
from tests.fixtures import FIXTURE_DATA, full_data, full_data_missing, make_fixture, needs_full_data
from theory import groups

needs_data = needs_full_data()  # skips, saying how to get the data, unless the full files are found

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # data README
SPLITS = ("train", "val", "test")
SMALL = dict(n_train=600, n_val=100, n_test=1000)


@pytest.fixture(scope="module")
def raw():  # only used by tests marked needs_data
    return {d: data.load_raw(d, quiet=True) for d in ("mnist", "fashion-mnist")}


@pytest.fixture(scope="module")
def full():
    """Both datasets at the paper's sizes (10k / 2k / 50k), R4, seed 0: built once per module."""
    return {d: data.transforming(d, "R4", seed=0, quiet=True) for d in ("mnist", "fashion-mnist")}


def splits(ds):
    return [getattr(ds, s) for s in SPLITS]


@needs_data
def test_raw_pool(raw):
    x, y = raw["mnist"]
    assert x.shape == (70_000, 28, 28) and x.dtype == np.uint8 and y.shape == (70_000,)
    assert np.bincount(y[:60_000]).tolist() == MNIST_TRAIN_COUNTS
    assert len(y[60_000:]) == 10_000 and not x.flags.writeable
    assert np.bincount(raw["fashion-mnist"][1]).tolist() == [7000] * 10
    assert np.isclose(x[:60_000].mean() / 255, 0.1307, atol=5e-5)  # README sanity figure


@needs_data
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_sizes_classes_disjointness(full, raw, name):
    ds = full[name]
    assert [len(s) for s in splits(ds)] == [10_000, 2_000, 50_000]
    index = torch.cat([s.index for s in splits(ds)]).numpy()
    assert len(np.unique(index)) == len(index) == 62_000
    x, y = raw[name]
    for s in splits(ds):
        assert s.images.shape == (len(s), 1, 36, 36) and s.images.dtype == torch.float32
        assert s.labels.dtype == s.g.dtype == torch.int64
        np.testing.assert_array_equal(s.labels.numpy(), y[s.index.numpy()])
        assert s.labels.min() >= 0 and s.labels.max() <= 8 and not (s.labels == 9).any()
        assert set(s.labels.tolist()) == set(range(9)) == set(range(ds.num_classes))
        # the raw pixels are the official image, zero-padded by 4 on each side
        np.testing.assert_array_equal(s.pixels[:, 0, 4:32, 4:32].numpy(), x[s.index.numpy()])
        px = s.pixels[:, 0]
        assert not (px[:, :4].any() or px[:, -4:].any() or px[:, :, :4].any() or px[:, :, -4:].any())
        assert (s.images[:, :, :4] == ds.black).all() and (s.images[:, :, :, -4:] == ds.black).all()


@needs_data
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_normalization_from_training_split(full, name):
    ds = full[name]
    train = ds.train.pixels.numpy().astype(np.float64) / 255
    assert np.isclose(ds.mean, train.mean(), rtol=1e-12) and np.isclose(ds.std, train.std(), rtol=1e-12)
    t = ds.train.images.double()
    assert abs(t.mean().item()) < 1e-6 and abs(t.std(unbiased=False).item() - 1) < 1e-6
    for s in splits(ds):
        assert s.mean == ds.mean and s.std == ds.std
        some = slice(0, None, 25)  # every 25th image: the full float64 comparison costs seconds
        expect = (s.pixels[some].numpy() / 255 - ds.mean) / ds.std
        np.testing.assert_allclose(s.images[some].numpy(), expect, rtol=1e-6, atol=1e-6)
    assert ds.black == ds.train.black == -ds.mean / ds.std
    assert abs(ds.test.images[::10].double().mean().item()) < 0.02  # other splits: same statistics, nearly normalized


@needs_data
def test_group_elements_uniform(full):
    g = full["mnist"].test.g
    counts = torch.bincount(g, minlength=4).double()
    sd = (50_000 * 0.25 * 0.75) ** 0.5
    assert g.min() >= 0 and g.max() <= 3 and ((counts - 12_500).abs() < 5 * sd).all()


@needs_data
def test_transformed_is_rot90_for_r4(full):
    val = full["mnist"].val
    x, g = val.images.numpy(), val.g.numpy()
    expect = np.stack([np.rot90(x[i, 0], g[i]) for i in range(len(g))])[:, None]
    np.testing.assert_array_equal(val.transformed().numpy(), expect)
    assert set(g.tolist()) == {0, 1, 2, 3}
    ones = torch.ones_like(val.g)
    np.testing.assert_array_equal(val.transformed(ones).numpy(), np.rot90(x, 1, axes=(-2, -1)))


@needs_data
def test_transformed_is_roll_for_t3():
    ds = data.transforming("mnist", "T3", seed=3, quiet=True, **SMALL)
    assert ds.group.order == 3 and set(ds.train.g.tolist()) == {0, 1, 2}
    x, g = ds.val.images.numpy(), ds.val.g.numpy()
    expect = np.stack([np.roll(x[i], 12 * g[i], axis=-1) for i in range(len(g))])
    np.testing.assert_array_equal(ds.val.transformed().numpy(), expect)


@needs_data
def test_same_seed_same_tensors_other_seed_differs():
    a, b, c = (data.transforming("mnist", "R4", seed=s, quiet=True, **SMALL) for s in (1, 1, 2))
    fields = ("images", "labels", "g", "index", "pixels")
    for sa, sb, sc in zip(splits(a), splits(b), splits(c)):
        assert all(torch.equal(getattr(sa, f), getattr(sb, f)) for f in fields)
        assert not torch.equal(sa.index, sc.index) and not torch.equal(sa.g, sc.g)
    assert (a.mean, a.std) == (b.mean, b.std) != (c.mean, c.std)


def test_group_argument():
    by_name = data.make_group("r4")
    assert np.array_equal(by_name.perms, groups.rotations(36).perms)
    assert data.make_group(groups.translations(36)).order == 3
    with pytest.raises(ValueError, match="unknown image group 'R8'; known groups: R4, T3, D4, F2"):
        data.make_group("R8")
    with pytest.raises(ValueError, match="36x36"):
        data.make_group(groups.rotations(28))
    with pytest.raises(ValueError, match="36x36"):
        data.make_group(groups.random_orthogonal(groups.cyclic_shift(3), np.random.default_rng(0)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="kmnist"), "unknown dataset 'kmnist'"),
    pytest.param(dict(n_test=60_000), "exceeds the 63042 mnist images of classes 0..8", marks=needs_data),
    (dict(n_val=-1), "n_val must be a non-negative integer"),
    (dict(n_train=0), "n_train must be at least 1"),
    (dict(seed=-3), "seed must be a non-negative integer"),
    (dict(group="SO2"), "unknown image group"),
])
def test_bad_arguments(kwargs, match):
    args = dict(dataset="mnist", quiet=True, download=False) | kwargs  # the others fail before any data is read
    with pytest.raises(ValueError, match=match):
        data.transforming(**args)


@needs_data
def test_to_device_moves_every_tensor(full):
    moved = full["mnist"].to("meta")
    for s in splits(moved):
        assert all(t.device.type == "meta" for t in (s.images, s.labels, s.g, s.perms, s.index, s.pixels))
    assert full["mnist"].test.images.device.type == "cpu" and moved.mean == full["mnist"].mean


@pytest.fixture(scope="module")
def small():
    """Small Transforming-MNIST and -FMNIST built with different seeds, for the drift tests."""
    return (data.transforming("mnist", "R4", seed=4, quiet=True, **SMALL),
            data.transforming("fashion-mnist", "R4", seed=5, quiet=True, **SMALL))


@needs_data
def test_drift_beta_0_is_the_mnist_test_set_exactly(small):
    m, f = small
    d0 = data.drift(m, f, 0.0)
    assert torch.equal(d0.images, m.test.images) and torch.equal(d0.labels, m.test.labels)
    assert torch.equal(d0.g, m.test.g) and torch.equal(d0.transformed(), m.test.transformed())
    assert (d0.mean, d0.std) == (m.mean, m.std) and d0.pixels is None


@needs_data
def test_drift_beta_1_is_fmnist_pixels_with_mnist_labels(small, raw):
    m, f = small
    d1 = data.drift(m, f, 1)
    fm_pixels = np.pad(raw["fashion-mnist"][0][f.test.index.numpy()], ((0, 0), (4, 4), (4, 4))) / 255
    np.testing.assert_allclose(d1.images[:, 0].numpy(), (fm_pixels - m.mean) / m.std, rtol=1e-6, atol=1e-6)
    assert torch.equal(d1.labels, m.test.labels) and torch.equal(d1.g, m.test.g)
    assert not torch.equal(d1.labels, f.test.labels)


@needs_data
def test_drift_interpolate_is_linear_in_pixel_space(small):
    m, f = small
    for beta in (0.25, 0.5, 0.9):
        d = data.drift(m, f, beta)
        raw = d.images.numpy() * m.std + m.mean
        mix = (1 - beta) * m.test.pixels.numpy() / 255 + beta * f.test.pixels.numpy() / 255
        np.testing.assert_allclose(raw, mix, rtol=1e-6, atol=1e-6)
        assert torch.equal(d.transformed(), data.transform_images(d.images, m.test.perms, m.test.g))


@needs_data
def test_drift_mixture(small):
    m, f = small
    assert torch.equal(data.drift(m, f, 0.0, "mixture").images, m.test.images)
    d1 = data.drift(m, f, 1.0, "mixture")
    assert torch.equal(d1.labels, f.test.labels) and torch.equal(d1.g, f.test.g)
    np.testing.assert_allclose(d1.images.numpy(), (f.test.pixels.numpy() / 255 - m.mean) / m.std,
                               rtol=1e-6, atol=1e-6)
    d = data.drift(m, f, 0.3, "mixture", seed=7)
    from_f = (d.pixels == f.test.pixels).flatten(1).all(1) & ~(d.pixels == m.test.pixels).flatten(1).all(1)
    frac = from_f.double().mean().item()
    assert abs(frac - 0.3) < 5 * (0.3 * 0.7 / 1000) ** 0.5
    assert torch.equal(d.labels[from_f], f.test.labels[from_f]) and torch.equal(d.labels[~from_f], m.test.labels[~from_f])
    assert torch.equal(data.drift(m, f, 0.3, "mixture", seed=7).images, d.images)
    assert not torch.equal(data.drift(m, f, 0.3, "mixture", seed=8).images, d.images)


@needs_data
@pytest.mark.parametrize("beta, mode, match", [
    (-0.1, "interpolate", "beta must be a number in"), (1.5, "mixture", "beta must be"),
    (float("nan"), "interpolate", "beta must be"), ("0.5", "interpolate", "beta must be"),
    (0.5, "blend", "unknown drift mode 'blend'; known modes: interpolate, mixture"),
])
def test_drift_bad_arguments(small, beta, mode, match):
    m = small[0]
    with pytest.raises(ValueError, match=match):
        data.drift(m, m, beta, mode)


@needs_data
def test_drift_needs_paired_splits_and_one_group(small):
    m = small[0]
    with pytest.raises(ValueError, match="same n_test"):
        data.drift(m, data.transforming("fmnist", "R4", quiet=True, **(SMALL | dict(n_test=999))), 0.5)
    with pytest.raises(ValueError, match="same group"):
        data.drift(m, data.transforming("fmnist", "T3", quiet=True, **SMALL), 0.5)


def test_corrupt_local_file_is_named(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in FILES:
        (folder / f"{name}.gz").write_bytes(b"\x1f\x8b garbage")
    (folder / "train-images-idx3-ubyte").write_bytes(b"")  # ignored: the .gz copy is preferred
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: not a valid IDX file .*--data-dir"):
        data.load_raw("mnist", tmp_path, download=False)


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No INVARIANCE_DATA; the cache and Debian's folder are empty places inside tmp_path."""
    monkeypatch.delenv("INVARIANCE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(dl, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    return tmp_path


# Images of classes 0..8 among the fixture's 400 (300 train + 100 test): the most n_train + n_val + n_test.
FIXTURE_KEEP = {"mnist": 358, "fashion-mnist": 369}


def test_fixture_builds_transforming_datasets_without_the_full_data(no_data):
    built = {}
    for name in ("mnist", "fashion-mnist"):
        x, y = data.load_raw(name, FIXTURE_DATA, download=False)
        assert x.shape == (400, 28, 28) and x.dtype == np.uint8 and y.shape == (400,)
        assert int((y != data.DROPPED_CLASS).sum()) == FIXTURE_KEEP[name]
        ds = data.transforming(name, "R4", seed=0, data_dir=FIXTURE_DATA, n_train=200, n_val=50, n_test=100,
                               download=False)
        assert [len(s) for s in splits(ds)] == [200, 50, 100]
        index = torch.cat([s.index for s in splits(ds)]).numpy()
        assert len(np.unique(index)) == 350 and index.max() < 400
        for s in splits(ds):
            assert s.images.shape == (len(s), 1, 36, 36) and not (s.labels == 9).any()
            np.testing.assert_array_equal(s.pixels[:, 0, 4:32, 4:32].numpy(), x[s.index.numpy()])
        t = ds.train.images.double()
        assert abs(t.mean().item()) < 1e-6 and abs(t.std(unbiased=False).item() - 1) < 1e-6
        val = ds.val
        expect = np.stack([np.rot90(val.images[i, 0].numpy(), int(val.g[i])) for i in range(len(val))])
        np.testing.assert_array_equal(val.transformed()[:, 0].numpy(), expect)
        biggest = dict(n_train=FIXTURE_KEEP[name] - 2, n_val=1, n_test=1)
        largest = data.transforming(name, data_dir=FIXTURE_DATA, download=False, **biggest)
        assert len(largest.train) == biggest["n_train"]
        with pytest.raises(ValueError, match=f"exceeds the {FIXTURE_KEEP[name]} {name} images"):
            data.transforming(name, data_dir=FIXTURE_DATA, download=False, **(biggest | dict(n_test=2)))
        built[name] = ds
    d = data.drift(built["mnist"], built["fashion-mnist"], 0.5)
    assert len(d) == 100 and torch.isfinite(d.images).all()
    assert not (no_data / "cache").exists()  # nothing was downloaded or created


def test_fixture_is_small_and_reproducible_gzip():
    files = sorted(p for p in FIXTURE_DATA.rglob("*") if p.is_file())
    assert [p.relative_to(FIXTURE_DATA).as_posix() for p in files] == sorted(
        f"{d}/{n}" for d in ("mnist", "fashion-mnist") for n in [dl.MANIFEST] + [f"{f}.gz" for f in FILES])
    assert sum(p.stat().st_size for p in files) < 300_000
    for p in files:
        if p.suffix == ".gz":
            assert p.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0: no timestamp in the bytes


def test_a_subset_needs_its_own_manifest(no_data):
    folder = shutil.copytree(FIXTURE_DATA / "mnist", no_data / "copy" / "mnist")
    data.clear_raw_cache()
    assert len(data.load_raw("mnist", folder, download=False)[1]) == 400
    (folder / dl.MANIFEST).unlink()
    data.clear_raw_cache()
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: SHA-256 .* expected [0-9a-f]{64}; "):
        data.load_raw("mnist", folder, download=False)
    # The manifest vouches for these bytes only: a changed label is caught.
    shutil.copy(FIXTURE_DATA / "mnist" / dl.MANIFEST, folder)
    labels = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] ^= 1
    labels.write_bytes(gzip.compress(bytes(raw), mtime=0))
    data.clear_raw_cache()
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: SHA-256 .* expected one of"):
        data.load_raw("mnist", folder, download=False)


@needs_data
def test_fixture_is_the_start_of_the_full_data(raw):
    for name in ("mnist", "fashion-mnist"):
        x, y = data.load_raw(name, FIXTURE_DATA, download=False)
        fx, fy = raw[name]
        np.testing.assert_array_equal(x, np.concatenate([fx[:300], fx[60_000:60_100]]))
        np.testing.assert_array_equal(y, np.concatenate([fy[:300], fy[60_000:60_100]]))


@pytest.mark.skipif(not all((make_fixture.DEFAULT_SOURCE / d).is_dir() for d in make_fixture.DATASETS),
                    reason=f"rebuilding the fixture needs the full files under {make_fixture.DEFAULT_SOURCE}")
def test_make_fixture_rebuilds_the_committed_files(tmp_path):
    make_fixture.build(dest=tmp_path)
    for name in ("mnist", "fashion-mnist"):
        assert (tmp_path / name / dl.MANIFEST).read_text() == (FIXTURE_DATA / name / dl.MANIFEST).read_text()
        for f in FILES:
            new, old = (gzip.decompress((root / name / f"{f}.gz").read_bytes()) for root in (tmp_path, FIXTURE_DATA))
            assert new == old, f"{name}/{f}"


def test_missing_data_dir_is_an_error_even_with_the_variable_set(monkeypatch, tmp_path):
    monkeypatch.setenv("INVARIANCE_DATA", str(FIXTURE_DATA))
    with pytest.raises(dl.DataError, match=f"^--data-dir {tmp_path / 'nope'} does not exist; "):
        data.load_raw("mnist", tmp_path / "nope", download=False)
    with pytest.raises(dl.DataError, match="--data-dir"):
        data.transforming("mnist", data_dir=tmp_path / "nope", n_train=10, n_val=0, n_test=0, download=False)


def test_skip_reason_says_how_to_get_the_data(no_data, monkeypatch):
    reason = full_data_missing()
    for way in ("--data-dir", "$INVARIANCE_DATA", str(dl.DEBIAN_FASHION_MNIST), "dataset-fashion-mnist",
                str(no_data / "cache" / "genuine-invariance"), dl.DOWNLOAD_COMMAND):
        assert way in reason, way
    assert "\n" not in reason and "nonexistent" not in reason and "shared" not in reason
    assert full_data("mnist") is None
    monkeypatch.setenv("INVARIANCE_DATA", str(no_data / "typo"))
    assert full_data_missing("mnist").startswith(f"INVARIANCE_DATA={no_data / 'typo'} does not exist; ")
    monkeypatch.setenv("INVARIANCE_DATA", str(FIXTURE_DATA))
    assert full_data_missing("mnist").startswith(f"{FIXTURE_DATA / 'mnist'} holds 300 train samples of mnist, "
                                                 f"not the full 60000; ")
