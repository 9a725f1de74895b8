"""The ``esper-cmds`` command line (the ``[cli]`` extra: cyclopts and rich).

Strictly private package. Nothing is imported here, so the simulator's entry point in
`_simulator` works without the extra; `_main.run` is the command line itself.
"""
