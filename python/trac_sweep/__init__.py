"""trac-sweep's Python client: submit grids to a coordinator, wait for them, read their results.

    from trac_sweep import Coordinator
    c = Coordinator("tcp://head:5555")          # CURVE: client_keys=..., server_key=... (or env, config)
    sweep = c.submit("sweeps/demo.json")         # or a dict; uploads the datasets the coordinator lacks
    c.wait(sweep)                                # a progress bar (tqdm) in a terminal or a notebook
    df = c.results(sweep)                        # a pandas DataFrame (a list of dicts without pandas)

Written from docs/PROTOCOL.md alone; it speaks the protocol version `PROTOCOL` names.
"""

from .client import Coordinator, Sweep, UPLOAD_PIECE_BYTES
from .config import CurveKeys, read_key_pair, read_public_key
from .errors import (Busy, CoordinatorError, ConfigurationError, DatasetNotAllowed, InvalidIdentifier, InvalidInput,
                     KeyFileError, Malformed, NoAnswer, ProtocolViolation, Refused, RunsFailed, TracSweepError,
                     Unavailable, UnknownDataset, UnknownSweep, UnknownType, UnknownWorker, VersionMismatch,
                     WaitTimeout)
from .wire import TAG

__version__ = "1.0.0"
PROTOCOL = TAG.decode()

__all__ = [
    "Coordinator", "Sweep", "CurveKeys", "read_key_pair", "read_public_key", "UPLOAD_PIECE_BYTES", "PROTOCOL",
    "TracSweepError", "CoordinatorError", "NoAnswer", "KeyFileError", "ConfigurationError", "ProtocolViolation",
    "WaitTimeout", "RunsFailed", "Malformed", "VersionMismatch", "UnknownType", "InvalidIdentifier",
    "UnknownSweep", "UnknownWorker", "UnknownDataset", "DatasetNotAllowed", "InvalidInput", "Refused",
    "Unavailable", "Busy",
]
