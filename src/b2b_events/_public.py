"""Public classes carry their public module: ``b2b_events.InvalidEventError`` in tracebacks.

Each public package calls ``publish(globals())`` after its imports. Pickle finds
the classes under the public name (they are exported there), and the API
reference, built from the source, is not affected.
"""

from __future__ import annotations

from typing import Any

__all__ = ["publish"]


def publish(namespace: dict[str, Any]) -> None:
    """Set ``__module__`` of the classes in ``namespace["__all__"]`` to the package's name.

    Only classes defined in the package's own private modules (``pkg._x``) are
    renamed: a class re-exported from elsewhere keeps the module it belongs to.
    """
    package = namespace["__name__"]
    for name in namespace["__all__"]:
        value = namespace[name]
        if isinstance(value, type) and value.__module__.startswith(f"{package}._"):
            value.__module__ = package
