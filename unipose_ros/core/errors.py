"""Typed input errors. Each message says what was wrong and what to do about it."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input data (a message, an image, a file). The pipeline reports it and goes on."""


class EncodingError(InputError):
    """An image or cloud encoding that the package cannot read."""


class SizeMismatchError(InputError):
    """Arrays whose shapes disagree (e.g. depth not registered to colour)."""


class CameraInfoError(InputError):
    """Missing, zero or inconsistent camera intrinsics."""


class EmptyInputError(InputError):
    """An input that carries no usable data (empty cloud, all-invalid depth)."""
