"""Where the client finds the coordinator and its CURVE keys: the same places as the `trac-sweep` CLI.

In order: the argument given, then the environment (`TRAC_SWEEP_COORDINATOR`, `TRAC_SWEEP_CURVE_SECRET`,
`TRAC_SWEEP_SERVER_KEY`), then `~/.config/trac-sweep/config.json` (`coordinator`, `curve_secret`,
`server_key`), then the default address `tcp://127.0.0.1:5555` without keys. The keys come in pairs:
this client's key pair and the coordinator's public key, one without the other is an error.

Key files (docs/PROTOCOL.md, section 8; `trac-sweep keys generate` writes them): UTF-8 text, lines
`name = value`, blank lines and lines starting with `#` ignored, keys 40 characters of Z85. A `.key`
file holds `public-key` and `secret-key` and must not be readable by group or others; a `.pub` file
holds `public-key`.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

from .errors import ConfigurationError, KeyFileError

DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"
CONFIG_FILE = Path("~/.config/trac-sweep/config.json")
Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")

KeySource = Union[str, os.PathLike, bytes]


@dataclass(frozen=True)
class CurveKeys:
    """This client's key pair and the coordinator's public key, Z85 text (40 characters each)."""

    public: str
    secret: str
    server: str

    def __repr__(self) -> str:  # never print a secret key
        return f"CurveKeys(public={self.public!r}, secret='…', server={self.server!r})"


def read_config(path: Optional[Path] = None) -> dict:
    """The config file's object, or {} when there is none."""
    path = (path or CONFIG_FILE).expanduser()
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigurationError(f"{path}: cannot read it as JSON ({error})") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{path}: must be a JSON object with coordinator, curve_secret, server_key")
    for key in ("coordinator", "curve_secret", "server_key"):
        if key in value and not isinstance(value[key], str):
            raise ConfigurationError(f"{path}: {key} must be a string")
    return value


def resolve_address(address: Optional[str], config: dict) -> str:
    """The coordinator's ZeroMQ endpoint, checked: `tcp://HOST:PORT`, `ipc://PATH`."""
    value = address or os.environ.get("TRAC_SWEEP_COORDINATOR") or config.get("coordinator") or DEFAULT_ADDRESS
    value = value.strip()
    if value.startswith("ipc://") and len(value) > len("ipc://"):
        return value
    match = re.fullmatch(r"tcp://(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):(\d+)", value)
    if not match or not 1 <= int(match.group(2)) <= 65535 or match.group(1) == "*":
        raise ConfigurationError(
            f"coordinator address {value!r}: expected tcp://HOST:PORT (e.g. tcp://head:5555) or ipc://PATH")
    return value


def _key_lines(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"key file {path} cannot be read: {error}") from None
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise KeyFileError(f"{path}:{number}: expected `name = value`, got {line[:60]!r}")
        name, value = name.strip(), value.strip()
        if name in ("public-key", "secret-key"):
            if not Z85_KEY.fullmatch(value):
                raise KeyFileError(f"{path}:{number}: {name} must be 40 characters of Z85")
            values[name] = value
    return values


def read_public_key(source: KeySource) -> str:
    """The public key in a `.pub` (or `.key`) file, or a Z85 key given as text or bytes."""
    if isinstance(source, bytes):
        source = source.decode("ascii", errors="replace")
    if isinstance(source, str) and Z85_KEY.fullmatch(source) and not Path(source).exists():
        return source
    path = Path(source).expanduser()
    values = _key_lines(path)
    if "public-key" not in values:
        raise KeyFileError(f"{path}: no `public-key = ...` line")
    return values["public-key"]


def read_key_pair(source: Union[KeySource, Tuple[str, str]]) -> Tuple[str, str]:
    """(public, secret) from a `.key` file (mode 0600), or given as a (public, secret) pair of Z85 keys."""
    import zmq

    if isinstance(source, tuple):
        if len(source) != 2 or not all(isinstance(k, str) and Z85_KEY.fullmatch(k) for k in source):
            raise KeyFileError("client_keys as a pair: (public, secret), each 40 characters of Z85")
        public, secret = source
        where = "the client_keys pair"
    else:
        path = Path(source).expanduser()
        values = _key_lines(path)
        if "secret-key" not in values or "public-key" not in values:
            raise KeyFileError(f"{path}: a key file needs `public-key = ...` and `secret-key = ...` lines "
                               f"(is this the .pub file? give the .key file)")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is readable by group or others: a secret key must be private "
                               f"(chmod 600 {path})")
        public, secret = values["public-key"], values["secret-key"]
        where = str(path)
    if zmq.curve_public(secret.encode()).decode() != public:
        raise KeyFileError(f"{where}: the public key is not the secret key's")
    return public, secret


def resolve_keys(client_keys, server_key, config: dict) -> Optional[CurveKeys]:
    """The CURVE keys to use, or None for plaintext. The argument, else the environment, else the config."""
    secret_source = client_keys if client_keys is not None else (
        os.environ.get("TRAC_SWEEP_CURVE_SECRET") or config.get("curve_secret"))
    server_source = server_key if server_key is not None else (
        os.environ.get("TRAC_SWEEP_SERVER_KEY") or config.get("server_key"))
    if not secret_source and not server_source:
        return None
    if not secret_source:
        raise KeyFileError("a server key without this client's key pair: give client_keys (a .key file; "
                           "or TRAC_SWEEP_CURVE_SECRET, or curve_secret in ~/.config/trac-sweep/config.json)")
    if not server_source:
        raise KeyFileError("a client key pair without the coordinator's public key: give server_key (its "
                           ".pub file; or TRAC_SWEEP_SERVER_KEY, or server_key in ~/.config/trac-sweep/config.json)")
    public, secret = read_key_pair(secret_source)
    return CurveKeys(public=public, secret=secret, server=read_public_key(server_source))
