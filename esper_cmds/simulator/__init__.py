"""A stateful, faithful simulator of Esper's Commands V2 API, in-process or on loopback.

It imports nothing from the rest of ``esper_cmds``: it is an independent oracle for the client.
"""

from ._clock import Clock, ManualClock, RealClock
from ._faults import Fault, FaultKind, FaultPlan
from ._lifecycle import STATES
from ._simulator import Simulator
from ._stats import SimStats

__all__ = [
    "STATES",
    "Clock",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "ManualClock",
    "RealClock",
    "SimStats",
    "Simulator",
]
