import dataclasses
import logging

import numpy as np
import pytest
import torch

from deblurflow.metrics import psnr, ssim
from deblurflow.params import ModelParams, Params, TrainParams
from deblurflow.prepared import load_split
from deblurflow.runtime import maybe_compile, pick_runtime
from deblurflow.selection import best_epoch, select_checkpoint
from deblurflow.training.checkpoint import keep_epochs, read_history, write_history_csv
from deblurflow.training.loop import train
from deblurflow.training.pairs import PairStore, data_home
from deblurflow.training.validation import validate


def run_params(**train) -> Params:
    """Tiny models, 3 steps of batch 3 per epoch, a log every 2 steps."""
    base = dict(epochs=2, batch_size=3, crop=32, steps_per_epoch=3, log_every=2, device="cpu")
    base.update(train)
    return Params(
        model=ModelParams(channels=4, res_blocks=1, d_channels=4),
        train=TrainParams(**base),
    )


def test_crops_are_aligned_windows_of_the_pairs():
    rng = np.random.default_rng(1)
    blur = rng.integers(0, 256, (4, 20, 30, 3), dtype=np.uint8)
    sharp = 255 - blur  # any paired transform must keep sharp == 255 - blur
    store = PairStore(blur, sharp, pick_runtime("cpu"))
    index = torch.tensor([0, 3, 3, 1, 2, 0, 1, 2])
    b, s = store.crops(index, (8, 12), torch.Generator().manual_seed(0))
    assert b.shape == s.shape == (8, 3, 8, 12)
    assert b.min() >= -1 and b.max() <= 1
    assert torch.allclose(s, -b, atol=1e-6)  # (255 - x) / 127.5 - 1 == -(x / 127.5 - 1)
    for k in range(8):
        crop = ((b[k].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
        src = blur[index[k]]
        found = False
        for img in (src, src[:, ::-1], src[::-1], src[::-1, ::-1]):
            for y in range(20 - 8 + 1):
                for x in range(30 - 12 + 1):
                    if np.array_equal(img[y : y + 8, x : x + 12], crop):
                        found = True
        assert found, f"crop {k} is not a (flipped) window of pair {int(index[k])}"


def test_validate_baseline_matches_reference_metrics(prepared):
    blur, sharp = load_split(prepared, "val")
    rt = pick_runtime("cpu")
    m = validate(None, PairStore(blur, sharp, rt), rt)
    want_psnr = np.mean([psnr(s, b) for b, s in zip(blur, sharp)])
    want_ssim = np.mean([ssim(s, b) for b, s in zip(blur, sharp)])
    want_l1 = np.mean(np.abs(blur / 127.5 - sharp / 127.5))
    assert m["val_psnr"] == pytest.approx(want_psnr, abs=1e-4)
    assert m["val_ssim"] == pytest.approx(want_ssim, abs=1e-4)  # float32 SSIM, skimage's float64
    assert m["val_l1"] == pytest.approx(want_l1, abs=1e-5)


def test_train_writes_history_snapshots_and_resumes_identically(prepared, tmp_path):
    rt = pick_runtime("cpu")
    logged = []
    straight = train(
        run_params(), prepared, tmp_path / "a", rt, on_log=lambda losses, s: logged.append(s)
    )
    assert [r["epoch"] for r in straight.history] == [1, 2]
    assert logged == [2, 3, 4, 6]  # every log_every steps and at each epoch's end
    assert (tmp_path / "a" / "last.pt").exists()
    assert read_history(tmp_path / "a") == straight.history

    # A run killed after epoch 1 resumes at epoch 2 with identical optimizer state.
    first = train(run_params(epochs=1), prepared, tmp_path / "b", rt)
    assert first.resumed_from == 0
    saved = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["step"] == 3
    resumed = train(run_params(epochs=2), prepared, tmp_path / "b", rt)
    assert resumed.resumed_from == 1
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for k, v in a["generator"].items():
        torch.testing.assert_close(b["generator"][k], v, rtol=0, atol=0)
    for k, v in a["opt_g"]["state"].items():
        torch.testing.assert_close(b["opt_g"]["state"][k]["exp_avg"], v["exp_avg"], rtol=0, atol=0)
    assert resumed.history[1]["val_l1"] == pytest.approx(straight.history[1]["val_l1"], abs=0)


def test_checkpoint_of_other_params_is_not_resumed(prepared, tmp_path, caplog):
    rt = pick_runtime("cpu")
    train(run_params(epochs=1), prepared, tmp_path, rt)
    other = run_params(epochs=2)
    other = Params(lambda_pix=50.0, model=other.model, train=other.train)
    with caplog.at_level(logging.WARNING):
        res = train(other, prepared, tmp_path, rt)
    assert res.resumed_from == 0 and len(res.history) == 2
    assert "lambda_pix" in caplog.text
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["key"]["lambda_pix"] == 50.0


def test_crop_larger_than_frames_is_a_clear_error(prepared, tmp_path):
    rt = pick_runtime("cpu")
    with pytest.raises(ValueError, match="train.crop=40 is larger"):
        train(run_params(crop=40), prepared, tmp_path, rt)


HISTORY = [
    {"epoch": 1, "val_l1": 0.30, "val_psnr": 20.0, "val_ssim": 0.70},
    {"epoch": 2, "val_l1": 0.20, "val_psnr": 22.0, "val_ssim": 0.69},
    {"epoch": 3, "val_l1": 0.25, "val_psnr": 23.0, "val_ssim": 0.75},
    {"epoch": 4, "val_l1": 0.20, "val_psnr": 21.0, "val_ssim": 0.60},
]


@pytest.mark.parametrize("metric, epoch", [("val_l1", 2), ("val_psnr", 3), ("val_ssim", 3)])
def test_best_epoch(metric, epoch):
    assert best_epoch(HISTORY, metric)["epoch"] == epoch


def test_keep_epochs_covers_every_metric_and_the_last():
    assert keep_epochs(HISTORY) == {2, 3, 4}


def test_select_checkpoint_finds_the_snapshot(prepared, tmp_path):
    rt = pick_runtime("cpu")
    res = train(run_params(epochs=3), prepared, tmp_path, rt)
    row, path = select_checkpoint(tmp_path, "val_l1")
    assert row == min(res.history, key=lambda r: r["val_l1"])
    assert path.name == f"epoch_{int(row['epoch']):04d}.pt" and path.exists()
    kept = {int(p.stem.split("_")[1]) for p in tmp_path.glob("epoch_*.pt")}
    assert kept == keep_epochs(res.history)


def test_history_csv(tmp_path):
    rows = [dict(r, step=i, loss_g=1.5) for i, r in enumerate(HISTORY)]
    write_history_csv(tmp_path / "h.csv", rows)
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,loss_g")
    assert lines[2].startswith("2,1,1.5,")
    assert len(lines) == 5


def test_a_finished_checkpoint_of_the_same_key_is_adopted(prepared, tmp_path, caplog):
    """Issue 23: a trainer that ran to the end after dvc was stopped is not retrained."""
    rt = pick_runtime("cpu")
    first = train(run_params(epochs=1), prepared, tmp_path, rt)
    with caplog.at_level(logging.INFO):
        again = train(run_params(epochs=1), prepared, tmp_path, rt)  # the next `dvc repro`
    assert again.resumed_from == 1 and again.history == first.history
    assert "already finished (epoch 1) with these params, data and code: adopting" in caplog.text
    fewer = train(run_params(epochs=1), prepared, tmp_path / "c", rt)
    train(run_params(epochs=2), prepared, tmp_path / "c", rt)
    shorter = train(run_params(epochs=1), prepared, tmp_path / "c", rt)  # fewer epochs asked
    assert shorter.resumed_from == 0 and shorter.history[0]["loss_g"] == fewer.history[0]["loss_g"]


def test_other_code_checkpoints_train_again(prepared, tmp_path, monkeypatch):
    rt = pick_runtime("cpu")
    train(run_params(epochs=1), prepared, tmp_path / "b", rt)  # killed after epoch 1 ...
    import deblurflow.training.resume as resume

    monkeypatch.setattr(resume, "code_fingerprint", lambda: "edited-losses")
    res = train(run_params(epochs=2), prepared, tmp_path / "b", rt)  # ... then the code changed
    assert res.resumed_from == 0 and len(res.history) == 2


def test_compile_falls_back_to_eager_when_unavailable(monkeypatch, caplog):
    def broken(model):
        raise RuntimeError("no compiler here")

    model = torch.nn.Linear(2, 2)
    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level(logging.WARNING):
        assert maybe_compile(model, True) is model
    assert "torch.compile unavailable (no compiler here)" in caplog.text
    assert maybe_compile(model, False) is model


# Tensor methods that copy a value to the host (on a GPU: a synchronisation).
HOST_READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__")


def test_steps_read_nothing_back_except_when_logging(prepared, tmp_path, monkeypatch):
    """Between two loss logs, training reads exactly the 4 logged losses back to the host:
    no step (data, forward, losses, backward, fused Adam) waits on the device."""
    reads = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _name=name, _original=original, **kw):
            reads.append(_name)
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    at_log = {}

    def on_log(losses, step):
        at_log[step] = list(reads)

    params = run_params(epochs=1, steps_per_epoch=6, log_every=2)
    train(params, prepared, tmp_path, pick_runtime("cpu"), on_log=on_log)
    assert sorted(at_log) == [2, 4, 6]
    for a, b in ((2, 4), (4, 6)):  # two training steps and one log in between
        assert at_log[b][len(at_log[a]) :] == ["item"] * 4, (a, b)


@pytest.mark.parametrize(
    ("device", "nbytes", "free", "home"),
    [
        ("cpu", 10**12, None, "cpu"),
        ("cuda", 4 * 2**30, 100 * 2**30, "cuda"),  # GoPro at 640x360 on an H200: on the GPU
        ("cuda", 60 * 2**30, 100 * 2**30, "cpu"),  # more than half the free memory: host
        ("cuda", 50 * 2**30, 100 * 2**30, "cuda"),
    ],
)
def test_data_lives_on_the_gpu_only_when_it_fits(device, nbytes, free, home):
    assert data_home(torch.device(device), nbytes, free).type == home


def test_recipe_params_reach_the_loop(prepared, tmp_path, monkeypatch):
    """NAFNet + AdamW + warm-up/cosine + Charbonnier + FFT: the optimizer, the per-step learning
    rates and the loss terms are the ones params ask for, and the run resumes identically."""
    import deblurflow.training.loop as loop_module
    from deblurflow.losses import GanLosses

    seen_lr, seen_loss = [], []
    real_loss = GanLosses.generator

    def spy(self, *args):
        seen_loss.append((self.pixel, self.lambda_fft))
        return real_loss(self, *args)

    monkeypatch.setattr(GanLosses, "generator", spy)
    recipe = dict(
        optimizer="adamw", weight_decay=0.01, schedule="cosine", warmup_steps=2, lr_min=0.1,
        pixel_loss="charbonnier", lambda_fft=0.1, lr_g=1e-3, lr_d=2e-4,
    )  # fmt: skip
    params = run_params(**recipe)
    params = Params(
        model=ModelParams(generator="nafnet", channels=4, enc_blocks=(1, 1), d_channels=4),
        train=params.train,
    )
    orig = loop_module.set_lr

    def record(opt, lr):
        assert isinstance(opt, torch.optim.AdamW)
        seen_lr.append(lr)
        orig(opt, lr)

    monkeypatch.setattr(loop_module, "set_lr", record)
    rt = pick_runtime("cpu")
    straight = train(params, prepared, tmp_path / "a", rt)
    assert [r["epoch"] for r in straight.history] == [1, 2]
    assert set(seen_loss) == {("charbonnier", 0.1)}
    # 6 steps: warm-up 1e-3/2, 1e-3, then cosine from 1e-3 down to 0.1 * 1e-3 (G and D each).
    g_lrs, d_lrs = seen_lr[::2], seen_lr[1::2]  # the loop sets G's, then D's, every step
    assert len(g_lrs) == 6 and d_lrs == pytest.approx([lr * 0.2 for lr in g_lrs])
    assert g_lrs[:2] == pytest.approx([5e-4, 1e-3])
    assert g_lrs[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(g_lrs[1:], g_lrs[2:]))
    state = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    assert state["opt_g"]["param_groups"][0]["weight_decay"] == 0.01

    train(Params(model=params.model, train=dataclasses.replace(params.train, epochs=1)),
          prepared, tmp_path / "b", rt)  # fmt: skip
    train(params, prepared, tmp_path / "b", rt)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for k, v in state["generator"].items():
        torch.testing.assert_close(b["generator"][k], v, rtol=0, atol=0)


def test_augmented_crops_transform_blur_and_sharp_alike():
    """rotate90 + colour jitter (HITAM): identical pairs stay identical, and without jitter
    every crop is a window of one of the 8 flips/rotations, transposes included."""
    from deblurflow.training.pairs import color_jitter

    rng = np.random.default_rng(2)
    blur = rng.integers(0, 256, (3, 12, 14, 3), dtype=np.uint8)
    store = PairStore(blur, blur.copy(), pick_runtime("cpu"))
    index = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    gen = torch.Generator().manual_seed(0)
    b, s = store.crops(index, (8, 8), gen, rotate90=True, jitter=0.3)
    assert torch.equal(b, s)
    b, _ = store.crops(index, (8, 8), torch.Generator().manual_seed(1), rotate90=True)
    transposed = 0
    for k in range(len(index)):
        crop = ((b[k].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
        src = blur[index[k]]
        flips = [src, src[:, ::-1], src[::-1], src[::-1, ::-1]]
        hits = [
            t
            for t, img in enumerate(flips + [f.transpose(1, 0, 2) for f in flips])
            for y in range(img.shape[0] - 7)
            for x in range(img.shape[1] - 7)
            if np.array_equal(img[y : y + 8, x : x + 8], crop)
        ]
        assert hits, f"crop {k} is no window of a flip or rotation"
        transposed += min(hits) >= 4
    assert 0 < transposed < len(index)
    with pytest.raises(ValueError, match="square"):
        store.crops(index, (8, 12), gen, rotate90=True)

    # colour_jitter by hand: u = (x + 1) / 2 = 0.6 (x = 0.2); brightness 0.5 -> 0.3; contrast 2
    # about 0.5 -> 0.1; a grey pixel has no saturation to change -> x = 2 * 0.1 - 1 = -0.8.
    x = torch.full((1, 3, 1, 1), 0.2)
    out = color_jitter(x, torch.tensor([[0.5, 2.0, 1.7]]), torch.tensor([0.5]))
    torch.testing.assert_close(out, torch.full((1, 3, 1, 1), -0.8))
    one = torch.ones(1, 3)
    assert torch.allclose(color_jitter(b[:1], one, torch.tensor([0.3])), b[:1], atol=1e-6)


def test_resume_key_covers_schedules_losses_and_augmentation():
    from deblurflow.training.resume import resume_key

    base = run_params()
    key = resume_key(base, "data")
    for change in (
        dict(schedule="plateau"), dict(early_stop_patience=3),
        dict(schedule="plateau", plateau_patience=2),
        dict(adversarial="wgan_gp"), dict(lambda_ssim=0.3), dict(rotate90=True),
        dict(color_jitter=0.1),
        dict(lambda_perceptual=1.0, perceptual_layer="vgg16.block3_conv3"),
    ):  # fmt: skip
        other = Params(model=base.model, train=dataclasses.replace(base.train, **change))
        assert resume_key(other, "data") != key, change
    tblock = Params(model=ModelParams(generator="tblock", channels=8), train=base.train)
    assert resume_key(tblock, "data") != key


def test_init_from_warm_starts_the_generator(prepared, tmp_path, monkeypatch):
    from deblurflow.models import build_generator, save_generator
    from deblurflow.training.resume import resume_key

    base = run_params(epochs=1)
    torch.manual_seed(1)
    source = build_generator(base.model)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.1)
    save_generator(tmp_path / "pre.pt", source, base.model, epoch=7)
    warm_train = dataclasses.replace(base.train, init_from=str(tmp_path / "pre.pt"))
    warm = Params(model=base.model, train=warm_train)
    import deblurflow.training.loop as loop_module

    loaded = []
    real = loop_module.warm_start

    def spy(gen, path, params):
        real(gen, path, params)
        loaded.append([p.detach().clone() for p in gen.parameters()])

    monkeypatch.setattr(loop_module, "warm_start", spy)
    train(warm, prepared, tmp_path / "ck", pick_runtime("cpu"))
    for a, b in zip(loaded[0], source.parameters()):
        torch.testing.assert_close(a, b)

    # The resume key holds the file's content hash: other weights = another training.
    key = resume_key(warm, "data")
    assert resume_key(base, "data") != key and len(key["init_from"]) == 16
    save_generator(tmp_path / "pre.pt", build_generator(base.model), base.model)
    assert resume_key(warm, "data") != key

    other = dataclasses.replace(base.model, channels=8)
    wrong = Params(model=other, train=warm.train)
    expected = r"train.init_from: .*pre.pt is another architecture .*channels 4 \(model: 8\)"
    with pytest.raises(ValueError, match=expected):
        train(wrong, prepared, tmp_path / "ck2", pick_runtime("cpu"))
