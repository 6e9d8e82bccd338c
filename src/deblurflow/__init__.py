"""deblurflow: GoPro-style blur synthesis, GAN deblurring, DVC + MLflow pipeline."""

__version__ = "0.1.0"
