"""The one base class of every failure vnetbench reports.

Its text is what the user reads: the first line says what failed and names the culprit,
further lines carry the evidence (command, exit code, output). The run's hooks and the
command line catch this class alone, so no failure of ours reaches a user as a traceback.
"""


class VnetbenchError(Exception):
    """A failure vnetbench explains; see the module docstring."""
