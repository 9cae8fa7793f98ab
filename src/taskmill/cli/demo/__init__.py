"""``taskmill demo``: a photo library's workload, shown act by act on a live screen.

The package keeps one job per module: :mod:`.workload` (task types), :mod:`.acts` (the
scenario), :mod:`.flood` (the disk flood of act four), :mod:`.stage` (what the acts tell a
rendering), :mod:`.screen` (the live rich screen), :mod:`.plain` (plain text for pipes) and
:mod:`.show` (choosing one, and the end). Everything uses the public ``taskmill`` API only.
"""

from taskmill.cli.demo.show import default_path, interrupted_message, run_demo

__all__ = ["default_path", "interrupted_message", "run_demo"]
