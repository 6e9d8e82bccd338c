"""The evaluate stage's runtime params and the test-split evaluation on a runtime."""

import numpy as np
import pytest
import torch

from deblurflow.evaluation import evaluate, load_test_split
from deblurflow.inference import deblur
from deblurflow.metrics import psnr, ssim
from deblurflow.models import build_generator
from deblurflow.params import ModelParams, ParamsError, load_params, parse_params
from deblurflow.runtime import pick_runtime


def test_evaluate_device_and_precision_default_to_auto(repo):
    ev = load_params(repo / "params.yaml").evaluate
    assert (ev.device, ev.precision) == ("auto", "auto")
    ev = parse_params({"evaluate": {"device": "cpu", "precision": "bf16"}}).evaluate
    assert (ev.device, ev.precision) == ("cpu", "bf16")


@pytest.mark.parametrize("key, value", [("device", "gpu"), ("precision", "fp16")])
def test_bad_evaluate_runtime_params_name_the_key(key, value):
    with pytest.raises(ParamsError, match=f"'evaluate.{key}'"):
        parse_params({"evaluate": {key: value}})


@pytest.fixture
def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    g = build_generator(ModelParams(channels=4, res_blocks=1, d_channels=4))
    with torch.no_grad():  # a trained-looking generator: not the identity
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return g


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto picks CUDA here")
def test_evaluate_fp32_on_cpu_is_exact(prepared, generator):
    split = load_test_split(prepared)
    ev = parse_params({"evaluate": {"precision": "fp32"}}).evaluate
    summary, rows = evaluate(generator, split, pick_runtime(ev.device, ev.precision), samples=0)
    outs = [deblur(generator, b, "cpu") for b in split.blur]  # fp32, the weights' precision
    assert [r["psnr"] for r in rows] == [psnr(s, o) for s, o in zip(split.sharp, outs)]
    assert [r["ssim"] for r in rows] == [ssim(s, o) for s, o in zip(split.sharp, outs)]
    assert summary["images"] == 3 and [r["sequence"] for r in rows] == ["test_seq"] * 3
    assert summary["test_psnr"] == pytest.approx(np.mean([r["psnr"] for r in rows]))


def test_evaluate_in_bf16_stays_close_to_fp32(prepared, generator):
    split = load_test_split(prepared)
    fp32, _ = evaluate(generator, split, pick_runtime("cpu", "fp32"), samples=0)
    bf16, _ = evaluate(generator, split, pick_runtime("cpu", "bf16"), samples=0, warmup=False)
    assert bf16["test_psnr"] != fp32["test_psnr"]  # it did run in bf16
    assert bf16["test_psnr"] == pytest.approx(fp32["test_psnr"], abs=0.5)
    assert bf16["input_psnr"] == fp32["input_psnr"]  # the baseline does not involve the model
