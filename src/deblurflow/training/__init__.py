"""GAN training: a generator (halfres by default) vs a PatchGAN discriminator, adversarial +
lambda_pix x the pixel loss (Charbonnier by default) [+ FFT, SSIM, perceptual terms].

- ``pairs``: the prepared pairs as uint8 tensors on the device, random crops and flips there;
- ``step``: one GAN step (D step, then G step with D frozen) returning named losses;
- ``validation``: per-epoch L1 / PSNR / SSIM on whole val frames;
- ``schedule``: learning-rate schedules and early stopping, pure functions of step and history;
- ``checkpoint``: the checkpoint format (last.pt, epoch snapshots, history), which select reads;
- ``resume``: the resume key (params, data, code, warm start) and what may be resumed;
- ``guard``: one trainer per checkpoints folder, and none left behind by a stopped parent;
- ``loop``: ``train()``, the recipe that puts them together;
- ``run``: the train stage: ``train()`` inside the pipeline's MLflow run, with its outputs.

Import the modules themselves (``from deblurflow.training.loop import train``): this file
imports nothing, so reading checkpoints (select) does not load the training loop.
"""
