from pathlib import Path

import pytest
import yaml

from deblurflow.params import Params, ParamsError, flatten, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def test_repo_params_yaml_loads_with_every_section():
    p = load_params(REPO / "params.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(raw) == {f for f in Params.__dataclass_fields__}
    assert p.lambda_pix == 100.0 and p.blur.frames == 7 and p.select.metric == "val_l1"


def test_params_yaml_sets_every_key():
    """DVC tracks params.yaml, not params.py's defaults (the data stages do not depend on
    params.py): a key params.yaml leaves out would reach a stage without DVC knowing."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    in_file = set(flatten_raw(raw))
    assert set(flatten(load_params(REPO / "params.yaml"))) - in_file == set()


def flatten_raw(raw: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            out.update(flatten_raw(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"trian": {}}, "'trian'"),
        ({"train": {"lr": 0.1}}, "'train.lr'"),
        ({"data": {"sample": {"widht": 3}}}, "'data.sample.widht'"),
        ({"train": {"epochs": "ten"}}, "'train.epochs'"),
        ({"train": {"epochs": True}}, "'train.epochs'"),
        ({"train": {"epochs": 0}}, "'train.epochs'"),
        ({"blur": {"frames": 8}}, "'blur.frames'"),
        ({"blur": {"frames": "sometimes"}}, "'blur.frames'"),
        ({"lambda_pix": -1}, "'lambda_pix'"),
        ({"select": {"metric": "val_mse"}}, "'select.metric'"),
        ({"data": {"source": "gopro"}}, "'data.url'"),
        ({"data": {"url": "ftp://x/y.zip"}}, "'data.url'"),
        ({"data": {"sha256": "abc"}}, "'data.sha256'"),
        ({"train": {"crop": 30}}, "'train.crop'"),
        ({"blur": {"exposure_ms": 30}}, "'blur.frames' and blur.exposure_ms are exclusive"),
        ({"blur": {"frames": None}}, "'blur.frames' is null, so blur.exposure_ms must be set"),
        ({"blur": {"frames": None, "exposure_ms": 0}}, "'blur.exposure_ms'"),
        ({"data": {"source": "video", "videos": ""}}, "'data.videos'"),
        ({"data": {"allow_low_fps": "yes"}}, "'data.allow_low_fps'"),
        ({"data": {"sample": {"photo_zoom": [1.5, 1.0]}}}, "'data.sample.photo_zoom'"),
        ({"data": {"sample": {"photo_zoom": [0.0, 1.0]}}}, "'data.sample.photo_zoom'"),
        ({"data": {"sample": {"photo_zoom": [1.0]}}}, "'data.sample.photo_zoom'"),
        ({"data": {"sample": {"sway": 1.5}}}, "'data.sample.sway'"),
    ],
)
def test_bad_params_name_the_key(raw, key):
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert key in str(err.value)


def test_suggests_the_close_key():
    with pytest.raises(ParamsError, match="did you mean 'train.epochs'"):
        parse_params({"train": {"epoch": 3}})


def test_types_are_coerced_and_frozen():
    p = parse_params({"lambda_pix": 50, "train": {"lr_g": "1e-3"}, "blur": {"frames": "auto"}})
    assert p.lambda_pix == 50.0 and isinstance(p.lambda_pix, float)
    assert p.train.lr_g == pytest.approx(1e-3)
    assert p.blur.frames == "auto"
    with pytest.raises(AttributeError):
        p.train.epochs = 3  # frozen


def test_flatten_uses_dotted_keys():
    flat = flatten(parse_params({}))
    assert flat["lambda_pix"] == 100.0
    assert flat["train.lr_g"] == 2e-3
    assert flat["data.sample.width"] == 320


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "p.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_docs_gopro_command_sets_valid_params():
    import re

    page = (REPO / "docs" / "data-sources.md").read_text()
    block = page.split("dvc exp run -n gopro-seed", 1)[1].split("```", 1)[0]
    overrides = re.findall(r"-S (\S+?)=(\S+)", block)
    assert len(overrides) >= 12
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for key, value in overrides:
        node = raw
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        assert last in node, f"docs/data-sources.md sets unknown param {key}"
        node[last] = yaml.safe_load(value)
    p = parse_params(raw)
    assert p.data.source == "gopro" and p.blur.frames == "auto" and p.prepare.size == 640
    assert p.train.crop is None and p.train.epochs == 80 and p.model.channels == 64
    assert p.train.lambda_adv == 1.0 and p.lambda_pix == 100.0


def test_params_yaml_holds_the_dataclass_defaults():
    """Defaults live in the dataclasses; params.yaml lists the same values (DVC tracks and
    `-S` sets only the keys it lists), so both say the same thing. evaluate.real_pairs is the
    workspace's own data and excepted."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["evaluate"].pop("real_pairs")
    loaded, defaults = flatten(parse_params(raw)), flatten(Params())
    for section in ("seed", "lambda_pix", "model.", "train.", "select.", "evaluate."):
        mine = {k: v for k, v in loaded.items() if k.startswith(section)}
        assert mine == {k: defaults[k] for k in mine}, section


@pytest.mark.parametrize(
    "override, key, why",
    [
        ({"model": {"norm": "batch"}}, "model.norm", "the halfres generator ignores it"),
        ({"model": {"generator": "nafnet", "res_blocks": 6}}, "model.res_blocks", "nafnet"),
        ({"model": {"generator": "resnet", "middle_blocks": 2}}, "model.middle_blocks", "resnet"),
        ({"train": {"gp_weight": 5.0}}, "train.gp_weight", "only with train.adversarial: wgan_gp"),
        ({"train": {"plateau_patience": 2}}, "train.plateau_patience", "train.schedule: plateau"),
    ],
)
def test_an_option_the_chosen_model_or_loss_ignores_is_refused(override, key, why):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in override.items():
        raw[section].update(values)
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    message = str(err.value)
    assert f"'{key}'" in message and why in message and "\n" not in message


def test_options_the_chosen_model_uses_are_accepted():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["model"].update(generator="resnet", norm="batch", dropout=0.5, res_blocks=6)
    raw["train"].update(adversarial="wgan_gp", gp_weight=5.0)
    params = parse_params(raw)
    assert params.model.norm == "batch" and params.train.gp_weight == 5.0
