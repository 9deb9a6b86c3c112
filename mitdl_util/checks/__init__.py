"""Self-checks for the labs: ``from mitdl_util.checks import lab01 as q; q.to_grayscale.check(to_grayscale)``.

One module per lab declares its exercises as data; `engine` runs them, `diagnostics` holds the shared
comparisons, `render` is the only place that prints.
"""

from .outcomes import Result

__all__ = ["Result"]
