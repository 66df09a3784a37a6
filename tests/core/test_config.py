from dataclasses import dataclass, field

import pytest

from livepapers.core.config import ConfigError, apply_overrides, to_dict


@dataclass(frozen=True)
class Model:
    dim: int = 8
    act: str = "relu"


@dataclass(frozen=True)
class Cfg:
    lr: float = 0.1
    steps: int = 10
    flag: bool = False
    etas: tuple[float, ...] = (0.1, 0.01)
    limit: float | None = None
    model: Model = field(default_factory=Model)


def test_casts_every_supported_type():
    c = apply_overrides(Cfg(), ["lr=3e-4", "steps=1e3", "flag=true", "etas=0.5,0.25,0.125", "limit=none",
                                "model.dim=64", "model.act=gelu"])
    assert c.lr == 3e-4 and c.steps == 1000 and c.flag is True and c.etas == (0.5, 0.25, 0.125)
    assert c.limit is None and c.model == Model(dim=64, act="gelu")
    assert apply_overrides(Cfg(), ["limit=2.5"]).limit == 2.5
    assert Cfg().model.dim == 8  # frozen originals untouched


@pytest.mark.parametrize(("item", "words"), [
    ("nope=1", ["unknown key 'nope'", "lr"]),
    ("model.width=3", ["unknown key 'width'", "dim"]),
    ("steps=abc", ["steps", "expected int"]),
    ("steps=1.5", ["steps", "expected int"]),
    ("lr=fast", ["lr", "expected float"]),
    ("flag=maybe", ["flag", "expected bool"]),
    ("lr", ["key=value"]),
])
def test_bad_overrides_name_the_key_and_type(item, words):
    with pytest.raises(ConfigError) as e:
        apply_overrides(Cfg(), [item])
    for w in words:
        assert w in str(e.value)


def test_to_dict_is_json_ready():
    assert to_dict(Cfg()) == {"lr": 0.1, "steps": 10, "flag": False, "etas": [0.1, 0.01], "limit": None,
                              "model": {"dim": 8, "act": "relu"}}


def test_a_configs_own_validation_error_becomes_a_config_error():
    from dataclasses import dataclass

    from livepapers.core.config import ConfigError, apply_overrides

    @dataclass(frozen=True)
    class Checked:
        rho: float = 0.5

        def __post_init__(self) -> None:
            if not 0 < self.rho < 1:
                raise ValueError(f"rho must be in (0, 1), got {self.rho}")

    with pytest.raises(ConfigError, match=r"--set rho=2: rho must be in \(0, 1\), got 2.0"):
        apply_overrides(Checked(), ["rho=2"])
