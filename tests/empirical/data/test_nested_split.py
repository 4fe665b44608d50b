"""The nested split of the data-scaling experiment (``transforming(split="nested")``) and the default split it leaves
unchanged."""

import hashlib

import numpy as np
import pytest
import torch

from empirical.data import transforming as data
from empirical.data.download import DataError
from tests.fixtures import FIXTURE_DATA

FIXTURE = dict(data_dir=FIXTURE_DATA, download=False, quiet=True)


def _digest(ds) -> str:
    h = hashlib.sha256()
    for sp in (ds.train, ds.val, ds.test):
        for t in (sp.images, sp.labels, sp.g, sp.index, sp.pixels):
            h.update(t.contiguous().numpy().tobytes())
    h.update(repr((ds.mean, ds.std)).encode())
    return h.hexdigest()


def test_the_default_split_is_bit_identical_to_the_one_before_the_nested_split():
    # computed with the code before the split option existed (commit a004317) on the committed fixture
    ds = data.transforming("mnist", "R4", seed=0, n_train=200, n_val=50, n_test=100, **FIXTURE)
    assert _digest(ds) == "d207f50d00c88686e1be58e64616490eb48e5e95a909c0f4756d8d484c6496e9"
    assert _digest(data.transforming("mnist", "R4", seed=0, n_train=200, n_val=50, n_test=100, split="draw",
                                     **FIXTURE)) == _digest(ds)


def _nested(n_train, dataset="mnist", group="R4", seed=0):
    return data.transforming(dataset, group, seed=seed, n_train=n_train, n_val=40, n_test=60, split="nested", **FIXTURE)


@pytest.mark.parametrize("dataset,group", [("mnist", "R4"), ("fashion-mnist", "T3")])
def test_nested_training_sets_with_fixed_disjoint_validation_and_test(dataset, group):
    most = data.pool_size(dataset, FIXTURE_DATA, download=False) - 40 - 60
    sets = [_nested(n, dataset, group) for n in (20, 90, most)]
    for ds, n in zip(sets, (20, 90, most)):
        assert len(ds.train) == n and len(ds.val) == 40 and len(ds.test) == 60
        ids = [set(s.index.tolist()) for s in (ds.train, ds.val, ds.test)]
        assert sum(map(len, ids)) == len(set().union(*ids)) == n + 100  # disjoint, no repeats
    small, mid, big = sets
    for split in ("val", "test"):  # the same samples, group elements and normalized values for every n
        for other in (mid, big):
            a, b = getattr(small, split), getattr(other, split)
            for f in ("images", "labels", "g", "index", "pixels"):
                assert torch.equal(getattr(a, f), getattr(b, f)), (split, f)
    for a, b in ((small, mid), (mid, big)):  # nested: each training set is the start of the next
        k = len(a.train)
        for f in ("images", "labels", "g", "index"):
            assert torch.equal(getattr(a.train, f), getattr(b.train, f)[:k]), f
    assert len({(ds.mean, ds.std) for ds in sets}) == 1
    # the constants are those of the whole training pool, zero frame included: the largest training set's own
    pix = big.train.pixels.numpy().astype(np.float64) / 255.0
    assert big.mean == pytest.approx(pix.mean(), rel=1e-12) and big.std == pytest.approx(pix.std(), rel=1e-12)
    assert abs(float(big.train.images.mean())) < 1e-4 and float(big.train.images.std()) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(DataError, match="exceeds"):
        _nested(most + 1, dataset, group)


def test_the_nested_split_differs_from_the_draw_and_follows_the_seed():
    a, b = _nested(90), _nested(90, seed=1)
    assert not torch.equal(a.test.index, b.test.index)
    drawn = data.transforming("mnist", "R4", seed=0, n_train=90, n_val=40, n_test=60, **FIXTURE)
    # one permutation for both: the draw's training set is the nested validation set's start
    assert torch.equal(drawn.train.index[:40], a.val.index)
    with pytest.raises(ValueError, match="unknown split"):
        data.transforming("mnist", "R4", n_train=10, n_val=0, n_test=0, split="halves", **FIXTURE)
