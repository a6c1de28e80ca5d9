"""Fault injection: a reverse proxy that passes an endpoint's answers through *event by event*
and applies named faults, each declaring the requirement IDs that must catch it, plus neutral
transformations a correct suite must not flag.

``python -m conformance.faults --upstream URL --listen HOST:PORT --fault NAME[,NAME…]``;
``--list`` shows every fault. In code: :class:`FaultProxy` and the :data:`FAULTS` table
(``table``; the fault model in ``model``, the hooks per API family in ``hooks/``).
"""

from conformance.faults.model import Fault, FaultContext, Hooks
from conformance.faults.proxy import FaultProxy
from conformance.faults.table import FAULTS, UnknownFault, resolve

__all__ = ["FAULTS", "Fault", "FaultContext", "FaultProxy", "Hooks", "UnknownFault", "resolve"]
