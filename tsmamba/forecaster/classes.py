"""The registry of forecaster classes by name: filled as classes are defined, read when a directory is loaded.

``load_forecaster`` resolves the class named in ``config.json`` here and nowhere else (never by importing an
arbitrary name), so only the library's own forecasters (and subclasses of ``BaseForecaster``) can be loaded.
"""

from __future__ import annotations

FORECASTER_CLASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Record ``cls`` under its class name (called by ``BaseForecaster.__init_subclass__``)."""
    FORECASTER_CLASSES[cls.__name__] = cls
    return cls


def forecaster_class(name: str, where: str) -> type:
    """The class registered as ``name``; an error naming ``where`` (the file read) and the known classes."""
    if not isinstance(name, str) or name not in FORECASTER_CLASSES:
        raise ValueError(
            f"{where} names an unknown forecaster class {name!r}; known: {sorted(FORECASTER_CLASSES)}. "
            "Import the module that defines it first, or re-save the model with this version."
        )
    return FORECASTER_CLASSES[name]
