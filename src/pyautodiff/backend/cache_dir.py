"""The code cache's directory: where it is, whose it is, its key and its size.

- Location: ``PYAUTODIFF_CODE_CACHE=<dir>``, or ``0`` (``off``, ``false``,
  ``no``) to turn the disk cache off; by default ``code`` under the user's
  cache directory from ``platformdirs`` (``~/.cache/pyautodiff/code`` on
  Linux).
- Ownership: the directory is created ``0700``; an existing one is used only
  if it belongs to this user and nobody else can write to it (the rule pip
  and PyTensor apply to their caches).  Otherwise a ``CodeCacheWarning`` says
  why, once per directory and process, and the cache falls back to memory.
- Key: a per-user secret of 32 random bytes in ``<dir>/hmac.key`` (``0600``),
  created atomically (written aside, then hard-linked into place, so two
  processes starting together agree on one key).  A key file that is not
  this user's own regular, private file is refused the same way.
- Size: at most ``PYAUTODIFF_CODE_CACHE_MB`` megabytes (default 256) of
  entries; stores evict the least recently used ones (loads refresh an
  entry's modification time).  Counting the entries means a ``stat`` of every
  file, so a process does it at its first store and then once per
  ``cap / SCAN_FRACTION`` bytes it has written: a directory of tens of thousands
  of entries would otherwise cost every first call a fifth of a second, and the
  cap is exceeded by at most that much per writing process.  Files are only ever replaced atomically or
  removed, and a reader holding an open file is unaffected by either, so
  processes sharing the directory need no lock.

Example::

    where = directory()        # None: no disk cache (off, or refused)
    key = secret(where)        # bytes, or None (refused)
    evict(where, nbytes)       # after a store of nbytes
"""
from __future__ import annotations

import os
import stat
import warnings

from ..errors import CodeCacheWarning

_DISABLED = ("0", "off", "false", "no")
DEFAULT_CAP_MB = 256
KEY_FILE = "hmac.key"
ENTRY_SUFFIX = ".npz"
_warned: set = set()
_secrets: dict = {}  # directory -> key bytes, read once per process
SCAN_FRACTION = 32
_written: dict = {}  # directory -> bytes this process stored there since it last counted


def warn_once(what, message: str) -> None:
    """One CodeCacheWarning per ``what`` and process."""
    if what in _warned:
        return
    _warned.add(what)
    warnings.warn(message, CodeCacheWarning, stacklevel=4)


def configured() -> str | None:
    """The directory asked for (environment or default), or None when turned off."""
    env = os.environ.get("PYAUTODIFF_CODE_CACHE", "").strip()
    if env.lower() in _DISABLED and env:
        return None
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("pyautodiff", appauthor=False), "code")


def directory() -> str | None:
    """The cache directory, created private if missing; None if off or refused."""
    where = configured()
    if where is None:
        return None
    try:
        if not os.path.isdir(where):
            os.makedirs(where, mode=0o700, exist_ok=True)
            os.chmod(where, 0o700)  # makedirs' mode passes through the umask
        st = os.stat(where)
    except OSError as exc:
        warn_once(("dir", where), f"pyautodiff: cannot use the code cache directory {where} ({exc}); "
                                  "keeping generated code in memory only")
        return None
    problem = _foreign(st, want_dir=True)
    if problem:
        warn_once(("dir", where), f"pyautodiff: not using the code cache directory {where}: it is {problem}. "
                                  "Code found there could run in this process, so the cache stays in memory; "
                                  "point PYAUTODIFF_CODE_CACHE at a directory of your own (mode 0700) "
                                  "or set it to 0")
        return None
    return where


def _foreign(st, want_dir: bool) -> str:
    """Why a file or directory with this stat may not be trusted ('' if it may)."""
    if want_dir and not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    if not want_dir and not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return "writable by others"
    return ""


def secret(where: str) -> bytes | None:
    """This user's HMAC key for entries in ``where`` (created on first use), or None."""
    key = _secrets.get(where)
    if key is not None:
        return key
    path = os.path.join(where, KEY_FILE)
    try:
        if not os.path.lexists(path):
            _create_key(path)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            st = os.fstat(fd)
            problem = _foreign(st, want_dir=False) or ("readable by others" if st.st_mode & 0o077 else "")
            key = os.read(fd, 64) if not problem else b""
        finally:
            os.close(fd)
    except OSError as exc:
        problem = str(exc)
    if problem or len(key) != 32:
        warn_once(("key", path), f"pyautodiff: not using the code cache key {path}: it is "
                                 f"{problem or 'not a 32-byte key'}; the cache stays in memory "
                                 "(delete the file to make a new key)")
        return None
    _secrets[where] = key
    return key


def _create_key(path: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic and never overwrites: the first process's key wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def forget_secrets() -> None:
    """Read keys again on next use (tests; a new process does so anyway)."""
    _secrets.clear()
    _warned.clear()


def cap_bytes() -> int:
    try:
        mb = float(os.environ.get("PYAUTODIFF_CODE_CACHE_MB", DEFAULT_CAP_MB))
    except ValueError:
        mb = DEFAULT_CAP_MB
    return int(mb * 2**20)


def evict(where: str, nbytes: int = 0) -> None:
    """After a store of ``nbytes``: remove the least recently used entries until the total
    fits the cap, counting them at this process's first store and then once per
    ``cap / SCAN_FRACTION`` bytes written."""
    written = _written.get(where)
    if written is not None and written + nbytes < cap_bytes() / SCAN_FRACTION:
        _written[where] = written + nbytes
        return
    _written[where] = 0
    entries = []
    try:
        with os.scandir(where) as it:
            for e in it:
                if e.name.endswith(ENTRY_SUFFIX) and e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, e.path))
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    cap = cap_bytes()
    for _, size, path in sorted(entries):
        if total <= cap:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:  # another process evicted it first
            pass
        except OSError:
            continue
        total -= size
