"""The exceptions of the client.

Every refusal from the coordinator is a `CoordinatorError` (or a subclass named after its code), and
carries the protocol's `code`, `message` and `subject` (docs/PROTOCOL.md, "Either way"). Code acts on
`code` (or on the class), never on the text of `message`, which is for people.
"""

from __future__ import annotations

from typing import Optional


class TracSweepError(Exception):
    """Anything this package raises on purpose."""


class NoAnswer(TracSweepError, TimeoutError):
    """Nothing answered at the coordinator's address in time (or nothing listens there)."""

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


class KeyFileError(TracSweepError, ValueError):
    """A CURVE key (file, environment variable or config entry) that cannot be used."""


class ConfigurationError(TracSweepError, ValueError):
    """A coordinator address or a config file that cannot be used."""


class ProtocolViolation(TracSweepError):
    """The peer sent something the protocol does not allow (not an `error` reply: a broken one)."""


class WaitTimeout(TracSweepError, TimeoutError):
    """`Coordinator.wait` gave up before the sweep finished."""

    def __init__(self, message: str, sweep: dict) -> None:
        super().__init__(message)
        self.sweep = sweep


class RunsFailed(TracSweepError):
    """`Coordinator.wait(..., check=True)`: the sweep finished with failed runs."""

    def __init__(self, message: str, sweep: dict) -> None:
        super().__init__(message)
        self.sweep = sweep


class CoordinatorError(TracSweepError):
    """The coordinator answered `error`: the request was refused, nothing it asked for happened."""

    code = "malformed"

    def __init__(self, code: str, message: str, subject: Optional[str] = None) -> None:
        text = f"{message} [{code}]" if not subject else f"{message} [{code}: {subject}]"
        super().__init__(text)
        self.code = code
        self.message = message
        self.subject = subject


class Malformed(CoordinatorError):
    """Frames or body do not parse, a field is missing or of the wrong type, a value out of range."""


class VersionMismatch(CoordinatorError):
    """The coordinator speaks another protocol version."""


class UnknownType(CoordinatorError):
    """A message type the coordinator does not handle."""


class InvalidIdentifier(CoordinatorError):
    """An identifier breaks its rule (a sweep id, a worker id, a sha256...)."""


class UnknownSweep(CoordinatorError):
    """No sweep has the id or name given; the message lists the known ones."""


class UnknownWorker(CoordinatorError):
    """No worker has the id given."""


class UnknownDataset(CoordinatorError):
    """No dataset with that sha256 is held in full; `subject` is the sha256."""


class DatasetNotAllowed(CoordinatorError):
    """A grid names a dataset file outside the coordinator's --datasets directories."""


class InvalidInput(CoordinatorError):
    """The request's content is wrong (a grid that does not parse, an upload piece out of order...)."""


class Refused(CoordinatorError):
    """Well-formed but not possible now (a sweep name taken by another grid...)."""


class Unavailable(CoordinatorError):
    """The coordinator could not commit; nothing changed, send again."""


class Busy(CoordinatorError):
    """Flow control: this connection has replies it has not read, or too many requests at once; nothing
    was done. The client sends the request again after a pause, so this reaches a caller only when the
    coordinator stayed busy for the whole timeout."""


ERROR_CLASSES = {
    "malformed": Malformed,
    "version_mismatch": VersionMismatch,
    "unknown_type": UnknownType,
    "invalid_identifier": InvalidIdentifier,
    "unknown_sweep": UnknownSweep,
    "unknown_worker": UnknownWorker,
    "unknown_dataset": UnknownDataset,
    "dataset_not_allowed": DatasetNotAllowed,
    "invalid_input": InvalidInput,
    "refused": Refused,
    "unavailable": Unavailable,
    "busy": Busy,
}


def error_from_reply(body: object) -> CoordinatorError:
    """The exception for an `error` body. A code this client does not know is treated as `malformed`
    (as the protocol says), but keeps its own `code`."""
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not isinstance(
            body.get("message"), str):
        return Malformed("malformed", f"the coordinator sent an error this client cannot read: {body!r}")
    subject = body.get("subject")
    cls = ERROR_CLASSES.get(body["code"], Malformed)
    return cls(body["code"], body["message"], subject if isinstance(subject, str) else None)
