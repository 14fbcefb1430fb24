"""The model zoo: every model registered by name; see `registry`."""

from . import googlenet, lenet, resnet, simple, speednet, vgg  # noqa: F401  (importing registers the models)
from .registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
