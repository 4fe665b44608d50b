"""Every saved-model form the audit takes, and every way it can be wrong, in one line naming the fix."""

import pytest
import torch
from torch import nn

from empirical.data.user_model import InputError, import_factory, load_model

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def factory():
    """A module-level factory: ``tests.empirical.data.test_user_model:factory``."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


FACTORY = "tests.empirical.data.test_user_model:factory"


@pytest.fixture
def trained():
    model = factory()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # weights a fresh factory() does not have: loading must bring them
    return model.eval()


def same(a, b):
    x = torch.randn(2, 1, 4, 4)
    return torch.equal(a(x), b(x))


def test_torchscript_state_dict_and_trusted_pickle_load_the_same_model(tmp_path, trained):
    torch.jit.script(trained).save(tmp_path / "m.ts")
    torch.save(trained.state_dict(), tmp_path / "sd.pt")
    torch.save({"state_dict": trained.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    torch.save(trained, tmp_path / "whole.pt")
    ts = load_model(tmp_path / "m.ts")
    assert ts.kind == "torchscript" and ts.scripted and same(ts.model, trained)
    for name in ("sd.pt", "ckpt.pt"):
        sd = load_model(tmp_path / name, factory=FACTORY)
        assert sd.kind == "state dict + factory" and same(sd.model, trained) and not sd.model.training
    pk = load_model(tmp_path / "whole.pt", trust_pickle=True)
    assert pk.kind == "pickled module" and same(pk.model, trained)
    assert len(ts.sha256) == 64 and ts.sha256 != sd.sha256


def test_a_pickled_module_needs_the_flag_and_the_error_says_why(tmp_path, trained):
    torch.save(trained, tmp_path / "whole.pt")
    with pytest.raises(InputError, match=r"runs code named in the file.*--trust-pickle.*TorchScript") as err:
        load_model(tmp_path / "whole.pt")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("factory_spec,match", [
    (None, "pass --factory pkg.module:fn"),
    ("no_such_package_xyz.models:net", "cannot import no_such_package_xyz.models"),
    ("tests.empirical.data.test_user_model:nothing", "has no attribute 'nothing'"),
    ("justaname", "expected pkg.module:fn"),
    ("torch.nn:Linear", "calling it failed"),
    ("collections:OrderedDict", "not an nn.Module"),
])
def test_state_dict_factory_errors_are_one_line(tmp_path, trained, factory_spec, match):
    torch.save(trained.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(InputError, match=match) as err:
        load_model(tmp_path / "sd.pt", factory=factory_spec)
    assert "\n" not in str(err.value)


def test_weights_that_do_not_fit_the_factory_and_unreadable_files(tmp_path):
    torch.save(nn.Linear(5, 2).state_dict(), tmp_path / "other.pt")
    with pytest.raises(InputError, match="does not fit the module"):
        load_model(tmp_path / "other.pt", factory=FACTORY)
    (tmp_path / "junk.pt").write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="not a model file"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="cannot read the model file"):
        load_model(tmp_path / "missing.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(InputError, match="neither a module nor a state dict"):
        load_model(tmp_path / "list.pt")


def test_a_loader_passed_in_is_tried_first_and_the_factory_callable_is_returned(tmp_path, trained):
    (tmp_path / "x.bin").write_bytes(b"mine")
    got = load_model(tmp_path / "x.bin", loaders={"custom": lambda p: trained if p.read_bytes() == b"mine" else None})
    assert got.kind == "custom" and got.model is trained
    assert import_factory(FACTORY) is factory
