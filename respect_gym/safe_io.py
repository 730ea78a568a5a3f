"""The one reading and writing layer for untrusted files: bounded input, atomic output.

Every file a user or a stranger hands respect-gym (graph JSON and ``.json.gz``, schedules,
leaderboard suites and submissions, checkpoint metadata, ``.tflite`` / ``.onnx`` models) is read
through these functions, and every file respect-gym writes goes through :func:`atomic_write`.
Failures are one line naming the file and the problem, quoting at most :data:`EXCERPT_CHARS`
characters of what the file holds (``repr``-escaped, so control and bidi characters never reach a
terminal raw).

Bounds on reading (each a module constant, stated here):

- size: at most ``max_bytes`` **after decompression**, counted while streaming, so a small
  ``.json.gz`` that inflates to gigabytes is refused after reading ``max_bytes + 1`` bytes of it;
- nesting: JSON arrays / objects at most :data:`MAX_DEPTH` deep (deeper input is refused, never
  a ``RecursionError``), and at most :data:`MAX_JSON_ITEMS` values in all (counted on the text
  before parsing: a file of tiny values such as ``[[],[],...]`` would take ~25 times its size in
  Python objects);
- numbers: integers of magnitude below 2**64 (:data:`MAX_JSON_INT`), floats finite (``1e400``,
  which Python parses as ``inf``, ``NaN`` and ``Infinity`` are refused); physical bounds of sizes
  and shapes are checked where they are used (:mod:`respect_gym.graph.dag`);
- strings: valid Unicode (no lone surrogates) without control characters (C0, DEL, C1, line and
  paragraph separators) or bidirectional overrides / isolates, at most :data:`MAX_STRING_CHARS`
  characters; object keys likewise, and never repeated within one object.

On writing (:func:`check_output_path`, :func:`check_output_dir`, :func:`atomic_write`): an output
never replaces an input, an existing file is replaced only when the caller passes ``force``, a
folder of generated files must be new or empty, and every write goes to a temporary file in the
same folder that is renamed over the target only once complete, so a failure (an encoding error,
a full disk, an interrupt) leaves what was there before.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterable

MAX_DEPTH = 64  # the deepest committed file (a submission) nests 4 levels
MAX_STRING_CHARS = 64 * 1024  # per JSON string; callers bound names and fields further
MAX_NAME_CHARS = 1024  # node names, op types, model names (real TFLite tensor names reach ~400)
MAX_JSON_INT = 2**64
MAX_JSON_ITEMS = 2**22  # ~4.2M values (a 100,000-node graph file holds ~1.3M): at most a few hundred MiB parsed
EXCERPT_CHARS = 48
_CHUNK = 1 << 20

# Characters refused in any string from an untrusted file: C0 controls, DEL and C1 controls,
# Unicode line / paragraph separators, bidirectional marks, embeddings, overrides and isolates,
# invisible format characters that can hide text (zero-width space, word joiner and invisible
# operators, BOM, interlinear annotations, tag characters; ZWJ / ZWNJ stay: scripts need them),
# and lone surrogates (legal in JSON escapes, not encodable as UTF-8).
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069"
                       "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


class UntrustedInputError(ValueError):
    """An input file or value is refused; the message names the file and the problem."""


class OutputPathError(ValueError):
    """An output path is refused before any work is done (it is an input, exists, or is a folder)."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters: safe to print, never a whole hostile string."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str, keep_newlines: bool = True) -> str:
    """``text`` with every refused character (control, bidi, lone surrogate) written as its
    escape (``\\x1b``, ``\\u202e``): for messages that quote paths or names a terminal must not
    interpret. Newlines stay when ``keep_newlines`` (multi-problem messages)."""
    def escape(match: re.Match) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        return repr(char)[1:-1] if not "\ud800" <= char <= "\udfff" else f"\\u{ord(char):04x}"
    return _BAD_TEXT.sub(escape, text)


def text_problem(text: str, max_chars: int = MAX_STRING_CHARS) -> str | None:
    """Why ``text`` is refused (length, a control / bidi character, a lone surrogate), or ``None``."""
    if len(text) > max_chars:
        return f"is {len(text):,} characters long, above the {max_chars:,}-character bound"
    bad = _BAD_TEXT.search(text)
    if bad is None:
        return None
    char = bad.group()
    if "\ud800" <= char <= "\udfff":
        kind = "a lone surrogate"
    elif char in _BIDI:
        kind = "a bidirectional-text control"
    elif char <= "\x9f" or char in "\u2028\u2029":
        kind = "a control character"
    else:
        kind = "an invisible format character"
    return f"holds {kind} (U+{ord(char):04X}) at position {bad.start()}"


def check_text(text: Any, what: str, error: type[Exception] = UntrustedInputError,
               max_chars: int = MAX_STRING_CHARS) -> str:
    """``text`` if it is a clean, bounded string; else ``error`` naming ``what``."""
    if not isinstance(text, str):
        raise error(f"{what} must be a string, got {type(text).__name__} {excerpt(text)}")
    problem = text_problem(text, max_chars)
    if problem:
        raise error(f"{what} {excerpt(text)} {problem}")
    return text


# ----------------------------------------------------------------------------------- reading
def read_bytes(path: str | os.PathLike, max_bytes: int, error: type[Exception] = UntrustedInputError,
               decompress: bool | None = None, kind: str = "file") -> bytes:
    """The bytes of a regular file, at most ``max_bytes`` of them after gzip decompression.

    :param decompress: gunzip the file; ``None`` (default): when its name ends in ``.gz``.
    :raises FileNotFoundError: when nothing is at ``path`` (message names it).
    :raises error: for a folder, a device or pipe, an unreadable or oversized file, bad gzip.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        raise error(f"{printable(str(path))}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except ValueError:  # a NUL byte in the path
        raise error(f"{excerpt(str(path))}: not a valid file path") from None
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {kind}")
    if not path.is_file():
        raise error(f"{path}: not a regular file (a device, pipe or socket is never read)")
    if decompress is None:
        decompress = path.name.lower().endswith(".gz")
    if not decompress and st.st_size > max_bytes:
        raise error(f"{path}: file is {st.st_size:,} bytes, above the {_size(max_bytes)}")
    try:
        # O_NONBLOCK: a pipe swapped in after the checks above cannot block the open; fstat then
        # checks what was actually opened
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise error(f"{path}: not a regular file (a device, pipe or socket is never read)")
        with open(fd, "rb") as raw:
            if not decompress:
                data = raw.read(max_bytes + 1)
            else:
                data = _gunzip_bounded(raw, max_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
            raise error(f"{path}: not a valid gzip file ({_short_exc(exc)})") from None
        raise error(f"{path}: cannot read ({getattr(exc, 'strerror', None) or _short_exc(exc)})") from None
    if len(data) > max_bytes:
        what = "decompresses to more than" if decompress else "is larger than"
        raise error(f"{path}: {what} the {_size(max_bytes)}")
    return data


def _gunzip_bounded(raw: io.BufferedReader, max_bytes: int) -> bytes:
    """Decompress a gzip stream chunk by chunk, stopping once ``max_bytes`` is exceeded."""
    out = bytearray()
    with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        while len(out) <= max_bytes:
            chunk = gz.read(min(_CHUNK, max_bytes + 1 - len(out)))
            if not chunk:
                break
            out += chunk
    return bytes(out)


def _size(n: int) -> str:
    return f"{n:,}-byte cap"


def _short_exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:120]}" if str(exc) else type(exc).__name__


def _refuse_constant(name: str) -> Any:
    raise _JsonRefusal(f"{name} is not a JSON number")


class _JsonRefusal(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonRefusal(f"key {excerpt(key)} appears twice in one object")
        out[key] = value
    return out


def loads_json(data: bytes | str, where: str, error: type[Exception] = UntrustedInputError,
               max_depth: int = MAX_DEPTH, bad_json: str = "invalid JSON") -> Any:
    """Parse JSON text under the bounds of the module docstring; errors start with ``where``.

    :param bad_json: how the error calls text that does not parse.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{where}: not UTF-8 text (byte {exc.start}: {excerpt(exc.object[exc.start:exc.start + 4])})") from None
    if data.startswith("\ufeff"):
        data = data[1:]
    items = data.count(",") + data.count("[") + data.count("{")
    if items > MAX_JSON_ITEMS:
        raise error(f"{where}: JSON of about {items:,} values, above the bound of {MAX_JSON_ITEMS:,}")
    try:
        value = json.loads(data, object_pairs_hook=_pairs, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: {bad_json} ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except _JsonRefusal as exc:
        raise error(f"{where}: {bad_json} ({exc})") from None
    except RecursionError:
        raise error(f"{where}: JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise error(f"{where}: {bad_json} ({str(exc)[:120]})") from None
    check_json_value(value, where, error, max_depth)
    return value


def check_json_value(value: Any, where: str, error: type[Exception] = UntrustedInputError,
                     max_depth: int = MAX_DEPTH) -> None:
    """Walk parsed JSON once (iteratively): depth, number bounds and strings of the module docstring."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, at = stack.pop()
        if depth > max_depth:
            raise error(f"{where}: JSON nested deeper than {max_depth} levels (at {at or 'top level'})")
        if isinstance(node, dict):
            for key in node:
                problem = text_problem(key)
                if problem:
                    raise error(f"{where}: key {excerpt(key)} at {at or 'top level'} {problem}")
            pairs: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            pairs = enumerate(node)
        else:
            continue
        for key, item in pairs:
            kind = type(item)
            if kind is int:
                if not -MAX_JSON_INT < item < MAX_JSON_INT:
                    raise error(f"{where}: {_label(at, key)}: integer of {len(str(abs(item)))} digits is out of range")
            elif kind is float:
                if not math.isfinite(item):
                    raise error(f"{where}: {_label(at, key)}: number overflows a double (read as {item})")
            elif kind is str:
                if _BAD_TEXT.search(item) or len(item) > MAX_STRING_CHARS:
                    raise error(f"{where}: {_label(at, key)}: string {excerpt(item)} {text_problem(item)}")
            elif kind is list or kind is dict:
                stack.append((item, depth + 1, _label(at, key)))
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise error(f"{where}: string {excerpt(value)} {problem}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise error(f"{where}: number overflows a double")
    elif isinstance(value, int) and not -MAX_JSON_INT < value < MAX_JSON_INT:
        raise error(f"{where}: integer out of range")


def _label(at: str, key: Any) -> str:
    """``results[3].stages`` style location of a JSON value."""
    label = f"{at}[{key}]" if isinstance(key, int) else (f"{at}.{key}" if at else str(key))
    return label if len(label) <= 2 * EXCERPT_CHARS else "..." + label[-2 * EXCERPT_CHARS:]


def read_json(path: str | os.PathLike, max_bytes: int, error: type[Exception] = UntrustedInputError,
              max_depth: int = MAX_DEPTH, bad_json: str = "invalid JSON") -> Any:
    """A ``.json`` / ``.json.gz`` file parsed under every bound of the module docstring."""
    raw = read_bytes(path, max_bytes, error, kind="JSON file")
    return loads_json(raw, str(path), error, max_depth, bad_json)


# ----------------------------------------------------------------------------------- writing
def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                      force: bool = False, what: str = "output") -> Path:
    """Refuse an output path before any long work: a folder, a missing folder, an input, or an
    existing file without ``force``. Returns the path.

    :param inputs: files the command reads; an output may never replace one, even with ``force``.
    """
    out = Path(path)
    if not str(path):
        raise OutputPathError(f"{what}: empty path")
    check_text(str(path), f"{what} path", OutputPathError, 4096)
    for source in inputs:
        if source is not None and os.path.exists(source) and _same_file(out, Path(source)):
            raise OutputPathError(f"{out}: {what} would overwrite the input {source}; choose another file")
    if out.is_dir():
        raise OutputPathError(f"{out}: {what} is a folder; give a file path")
    parent = out.parent
    if not parent.is_dir():
        raise OutputPathError(f"{out}: {what} folder {parent} does not exist")
    if out.exists() or out.is_symlink():
        if not out.is_file():
            raise OutputPathError(f"{out}: {what} exists and is not a regular file")
        if not force:
            raise OutputPathError(f"{out}: {what} exists; pass --force to overwrite it")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{out}: {what} folder {parent} is not writable")
    return out


def check_output_dir(path: str | os.PathLike, what: str = "output folder",
                     inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse a folder for generated files unless it is new or empty (nothing of the user's is
    overwritten, removed, or left beside the new files). Returns the path."""
    out = Path(path)
    if not str(path):
        raise OutputPathError(f"{what}: empty path")
    check_text(str(path), f"{what} path", OutputPathError, 4096)
    for source in inputs:
        if source is not None and _same_file(out, Path(source)):
            raise OutputPathError(f"{out}: {what} is the input {source}")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputPathError(f"{out}: {what} exists and is not a folder")
        try:
            entries = next(iter(os.scandir(out)), None)
        except OSError as exc:
            raise OutputPathError(f"{out}: {what} cannot be read ({exc.strerror})") from None
        if entries is not None:
            raise OutputPathError(f"{out}: {what} is not empty; give a new or empty folder (nothing in it "
                                  "is overwritten or removed)")
        if not os.access(out, os.W_OK):
            raise OutputPathError(f"{out}: {what} is not writable")
    else:
        anchor = next((p for p in out.parents if p.exists()), Path("."))
        if not anchor.is_dir():
            raise OutputPathError(f"{out}: {anchor} is not a folder")
    return out


def atomic_write(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and one rename.

    Text is encoded first, so an unencodable string fails before anything is touched; the file
    keeps an existing target's permission bits (else the umask's).
    """
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give a file path")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
