"""The tuning database: every measured trial and the chosen configuration
per shape bucket, in one sqlite3 file shared by processes.

Where: $ATTN_TUNING_DB, else tuning.db in attn's cache directory
($ATTN_CACHE_DIR, else ~/.cache/attn, under $XDG_CACHE_HOME if set).

What is a key: one kernel on one kind of machine. `make_key` hashes the
kernel's IR without its #attn.config (so changing the search space never
invalidates what was measured), the dtype, the head dims, the target and
the compile options that change the code, and the machine's identity (CPU
model, ISA flags and thread count; GPU name and compute capability).
Within a key, a trial is one configuration on one shape at one rung of
successive halving; a choice is the configuration picked for one bucket
of shapes (`bucket`).

Consistency: the file is in WAL mode and every write is one transaction,
so several tuners in several processes may write at once, and a tuner
killed at any point leaves every committed trial and nothing half
written; a trial already stored is never measured again (a killed sweep
resumes where it stopped).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import time
from typing import Iterable, Optional

SCHEMA_VERSION = 1
# Query lengths the CPU's decoding kernel serves (Sq <= 2): such calls get
# their own buckets, tuned for kv_splits and block_kv.
DECODE_MAX_SQ = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
  key TEXT PRIMARY KEY,
  kernel TEXT NOT NULL,       -- hash of the IR without #attn.config
  dtype TEXT NOT NULL,
  head_dim INTEGER NOT NULL,
  head_dim_v INTEGER NOT NULL,
  target TEXT NOT NULL,       -- cpu, sm_80, sm_90a
  options TEXT NOT NULL,
  machine TEXT NOT NULL,
  label TEXT NOT NULL         -- a human-readable name of the kernel
);
CREATE TABLE IF NOT EXISTS trials (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  shape TEXT NOT NULL,        -- B=..,Hq=..,Hkv=..,Sq=..,Skv=..
  bucket TEXT NOT NULL,
  config TEXT NOT NULL,       -- canonical JSON, sorted keys
  rung INTEGER NOT NULL,      -- successive-halving rung (0: screening)
  status TEXT NOT NULL,       -- ok, invalid, mismatch, error
  ms REAL,                    -- median of `runs` timed calls
  spread REAL,                -- (p75 - p25) / median of those calls
  runs INTEGER,
  load REAL,                  -- os.getloadavg()[0] when measured
  detail TEXT NOT NULL,       -- why a trial is not ok
  created REAL NOT NULL,
  version TEXT NOT NULL,      -- attn version and compiler build
  UNIQUE (key, shape, config, rung)
);
CREATE TABLE IF NOT EXISTS choices (
  key TEXT NOT NULL,
  bucket TEXT NOT NULL,
  config TEXT NOT NULL,       -- the winner ({} = the default stays)
  default_ms REAL,
  tuned_ms REAL,
  rounds_won INTEGER NOT NULL,
  rounds INTEGER NOT NULL,
  reason TEXT NOT NULL,
  created REAL NOT NULL,
  version TEXT NOT NULL,
  PRIMARY KEY (key, bucket)
);
"""

_KEY_COLUMNS = ("key", "kernel", "dtype", "head_dim", "head_dim_v", "target",
                "options", "machine", "label")
_TRIAL_COLUMNS = ("key", "shape", "bucket", "config", "rung", "status", "ms",
                  "spread", "runs", "load", "detail", "created", "version")
_CHOICE_COLUMNS = ("key", "bucket", "config", "default_ms", "tuned_ms",
                   "rounds_won", "rounds", "reason", "created", "version")


class TuningDBError(RuntimeError):
    """A tuning database that cannot be opened, read or imported."""


def default_path() -> str:
    explicit = os.environ.get("ATTN_TUNING_DB")
    if explicit:
        return explicit
    from .api import cache_dir
    return os.path.join(cache_dir(), "tuning.db")


def canonical_config(config: dict) -> str:
    """The stored form of a configuration: JSON with sorted keys and the
    fields left at their defaults (0, "") dropped, so that equal plans
    compare equal as text."""
    return json.dumps({k: v for k, v in sorted(config.items())
                       if v not in (0, "", None)}, sort_keys=True)


# ----------------------------------------------------------------------------
# Machine identity and buckets
# ----------------------------------------------------------------------------

_cpu_identity = None


def cpu_identity() -> str:
    """The CPU model, a hash of its ISA flags and the threads a kernel
    uses: machines that agree on these run the same code equally fast.
    /proc/cpuinfo where there is one, else the platform's name."""
    global _cpu_identity
    if _cpu_identity is None:
        model, flags = platform.processor() or platform.machine(), ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    name, _, value = line.partition(":")
                    name = name.strip()
                    if name == "model name" and model != value.strip():
                        model = value.strip()
                    elif name in ("flags", "Features") and not flags:
                        flags = " ".join(sorted(value.split()))
                    if line.strip() == "" and flags:
                        break
        except OSError:
            pass
        digest = hashlib.sha256(flags.encode()).hexdigest()[:16]
        _cpu_identity = f"{model} | flags {digest}"
    threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count() or 1)
    return f"{_cpu_identity} | threads {threads}"


def gpu_identity(chip: str) -> Optional[str]:
    """The GPU's name and compute capability (nvidia-smi), or None when no
    GPU can be asked: then there is nothing to look up or store."""
    import shutil
    import subprocess
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    if out.returncode != 0 or not line:
        return None
    return f"{line.strip()} | {chip}"


def pow2_at_least(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def bucket(sq: int, skv: int) -> str:
    """The shape bucket of a call: decoding (Sq <= DECODE_MAX_SQ) by the
    power of two at or above Skv, prefill by those of Sq and Skv."""
    if sq <= DECODE_MAX_SQ:
        return f"decode/skv{pow2_at_least(skv)}"
    return f"prefill/sq{pow2_at_least(sq)}/skv{pow2_at_least(skv)}"


def make_key(kernel: str, dtype: str, head_dim: int, head_dim_v: int,
             target: str, options: str, machine: str) -> str:
    return hashlib.sha256("\0".join(
        ["attn-tuning-1", kernel, dtype, str(int(head_dim)),
         str(int(head_dim_v)), target, options, machine]).encode()
    ).hexdigest()


# ----------------------------------------------------------------------------
# The database
# ----------------------------------------------------------------------------


class TuningDB:
    """One tuning database file. Safe to share between threads of one
    process (one connection, serialised) and between processes (sqlite
    locking, WAL)."""

    def __init__(self, path: Optional[str] = None, readonly: bool = False):
        """Opens (creating it unless `readonly`) the database at `path`,
        default `default_path()`. attn.compile opens it read-only, so a
        database shipped in a read-only place serves too."""
        import threading
        self.path = path or default_path()
        self._lock = threading.RLock()
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            if readonly:
                from urllib.parse import quote
                self._conn = sqlite3.connect(
                    f"file:{quote(os.path.abspath(self.path))}?mode=ro",
                    uri=True, timeout=60.0, isolation_level=None,
                    check_same_thread=False)
            else:
                os.makedirs(directory, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=60.0,
                                             isolation_level=None,
                                             check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 60000")
            if not readonly:
                self._create()
            row = self._conn.execute(
                "SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                raise TuningDBError(
                    f"{self.path} has tuning-database schema "
                    f"{row[0] if row else 'none'}; this attn reads schema "
                    f"{SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise TuningDBError(f"cannot open the tuning database "
                                f"{self.path}: {e}") from None
        except OSError as e:
            raise TuningDBError(f"cannot create the tuning database "
                                f"{self.path}: {e}") from None

    def _create(self):
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or mode[0].lower() != "wal":
            raise TuningDBError(f"cannot put {self.path} in WAL mode")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        # CREATE ... IF NOT EXISTS: each statement is atomic and idempotent,
        # so concurrent first opens agree.
        self._conn.executescript(_SCHEMA)
        with self._transaction():
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES "
                               "('schema', ?)", (str(SCHEMA_VERSION),))

    def close(self):
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _transaction(self):
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception): a writer
        takes the write lock up front, so two writers wait for each other
        instead of failing on a lock upgrade."""
        db = self

        class Tx:
            def __enter__(self):
                db._lock.acquire()
                try:
                    db._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.DatabaseError as e:
                    db._lock.release()
                    raise TuningDBError(f"cannot write {db.path}: {e}") \
                        from None
                return db._conn

            def __exit__(self, kind, value, tb):
                try:
                    db._conn.execute("COMMIT" if kind is None else "ROLLBACK")
                finally:
                    db._lock.release()
                if kind is not None and issubclass(kind, sqlite3.DatabaseError):
                    raise TuningDBError(f"cannot write {db.path}: {value}") \
                        from None
                return False
        return Tx()

    def _query(self, sql: str, args: Iterable = ()) -> list:
        try:
            with self._lock:
                cur = self._conn.execute(sql, tuple(args))
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        except sqlite3.DatabaseError as e:
            raise TuningDBError(f"{self.path}: {e}") from None

    # -- writing -------------------------------------------------------------

    def add_key(self, key: str, kernel: str, dtype: str, head_dim: int,
                head_dim_v: int, target: str, options: str, machine: str,
                label: str):
        with self._transaction() as c:
            c.execute("INSERT OR IGNORE INTO keys VALUES (?,?,?,?,?,?,?,?,?)",
                      (key, kernel, dtype, int(head_dim), int(head_dim_v),
                       target, options, machine, label))

    def add_trial(self, key: str, shape: str, bucket_name: str, config: dict,
                  rung: int, status: str, ms: Optional[float] = None,
                  spread: Optional[float] = None, runs: int = 0,
                  load: Optional[float] = None, detail: str = "",
                  version: str = "") -> bool:
        """Stores one trial; False when (key, shape, config, rung) was
        stored already (by this or another process), which is kept."""
        with self._transaction() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO trials (" + ",".join(_TRIAL_COLUMNS)
                + ") VALUES (" + ",".join("?" * len(_TRIAL_COLUMNS)) + ")",
                (key, shape, bucket_name, canonical_config(config), rung,
                 status, ms, spread, runs, load, detail, time.time(),
                 version))
            return cur.rowcount == 1

    def set_choice(self, key: str, bucket_name: str, config: dict,
                   default_ms: Optional[float], tuned_ms: Optional[float],
                   rounds_won: int, rounds: int, reason: str,
                   version: str = ""):
        with self._transaction() as c:
            c.execute("INSERT OR REPLACE INTO choices VALUES "
                      "(?,?,?,?,?,?,?,?,?,?)",
                      (key, bucket_name, canonical_config(config), default_ms,
                       tuned_ms, int(rounds_won), int(rounds), reason,
                       time.time(), version))

    # -- reading -------------------------------------------------------------

    def trial(self, key: str, shape: str, config: dict,
              rung: int) -> Optional[dict]:
        rows = self._query(
            "SELECT * FROM trials WHERE key = ? AND shape = ? AND config = ? "
            "AND rung = ?", (key, shape, canonical_config(config), rung))
        return _decode(rows[0]) if rows else None

    def trials(self, key: Optional[str] = None) -> list:
        if key is None:
            return [_decode(r) for r in
                    self._query("SELECT * FROM trials ORDER BY id")]
        return [_decode(r) for r in self._query(
            "SELECT * FROM trials WHERE key = ? ORDER BY id", (key,))]

    def choices(self, key: str) -> dict:
        """{bucket: choice row} of one key."""
        return {r["bucket"]: _decode(r) for r in self._query(
            "SELECT * FROM choices WHERE key = ? ORDER BY bucket", (key,))}

    def keys(self) -> list:
        return self._query("SELECT * FROM keys ORDER BY key")

    # -- export and import ---------------------------------------------------

    def export_json(self, path: str):
        """Writes every key, trial and choice as one JSON document."""
        doc = {"attn_tuning_db": SCHEMA_VERSION, "keys": self.keys(),
               "trials": self._query("SELECT " + ",".join(_TRIAL_COLUMNS)
                                     + " FROM trials ORDER BY id"),
               "choices": self._query("SELECT " + ",".join(_CHOICE_COLUMNS)
                                      + " FROM choices")}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
        os.replace(tmp, path)

    def import_json(self, path: str) -> dict:
        """Merges an export into this database in one transaction: keys and
        trials it lacks are added (stored ones are kept), and each choice
        replaces an older one of the same (key, bucket). Returns counts of
        what was added."""
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise TuningDBError(f"cannot read {path}: {e}") from None
        if not isinstance(doc, dict) or \
                doc.get("attn_tuning_db") != SCHEMA_VERSION:
            raise TuningDBError(f"{path} is not an attn tuning-database "
                                f"export of schema {SCHEMA_VERSION}")
        added = {"keys": 0, "trials": 0, "choices": 0}
        try:
            with self._transaction() as c:
                for table, columns, verb in (
                        ("keys", _KEY_COLUMNS, "INSERT OR IGNORE"),
                        ("trials", _TRIAL_COLUMNS, "INSERT OR IGNORE")):
                    for row in doc.get(table, []):
                        cur = c.execute(
                            f"{verb} INTO {table} (" + ",".join(columns)
                            + ") VALUES (" + ",".join("?" * len(columns))
                            + ")", [row[k] for k in columns])
                        added[table] += cur.rowcount
                for row in doc.get("choices", []):
                    cur = c.execute(
                        "INSERT INTO choices (" + ",".join(_CHOICE_COLUMNS)
                        + ") VALUES (" + ",".join("?" * len(_CHOICE_COLUMNS))
                        + ") ON CONFLICT (key, bucket) DO UPDATE SET "
                        + ",".join(f"{k} = excluded.{k}"
                                   for k in _CHOICE_COLUMNS[2:])
                        + " WHERE excluded.created > choices.created",
                        [row[k] for k in _CHOICE_COLUMNS])
                    added["choices"] += cur.rowcount
        except (KeyError, TypeError) as e:
            raise TuningDBError(f"{path}: malformed entry ({e!r})") from None
        except sqlite3.DatabaseError as e:
            raise TuningDBError(f"cannot import {path}: {e}") from None
        return added


def _decode(row: dict) -> dict:
    row = dict(row)
    if "config" in row:
        row["config"] = json.loads(row["config"])
    return row
