"""The model zoo: every model registered by name; see `registry`."""

# importing registers the models
from . import efficientnet, googlenet, lenet, mobilenet, resnet, simple, speednet, vgg  # noqa: F401
from .registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
