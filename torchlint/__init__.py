"""torchlint: a static-analysis reviewer for PyTorch inference code."""

__version__ = "0.1.0"
