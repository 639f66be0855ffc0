"""CTI Bridge domain package, shipped to every function as the shared Lambda layer.

Handlers in ``functions/`` parse and answer; what they do lives here, in modules named for it.
"""

__version__ = "0.1.0"
