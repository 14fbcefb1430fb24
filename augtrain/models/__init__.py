"""The model zoo: every model registered by name; see `registry`."""

from . import lenet, resnet, simple  # noqa: F401  (importing registers the models)
from .registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
