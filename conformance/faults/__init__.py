"""Fault injection: a reverse proxy that passes an endpoint's answers through *event by event*
and applies named faults, each declaring the requirement IDs that must catch it, plus neutral
transformations a correct suite must not flag.

``python -m conformance.faults --upstream URL --listen HOST:PORT --fault NAME[,NAME…]``;
``--list`` shows every fault. In code: :class:`FaultProxy` and the :data:`FAULTS` registry.
"""

from conformance.faults.proxy import FaultProxy
from conformance.faults.registry import FAULTS, Fault, FaultContext, Hooks, UnknownFault, resolve

__all__ = ["FAULTS", "Fault", "FaultContext", "FaultProxy", "Hooks", "UnknownFault", "resolve"]
