"""The corpus on disk: batches, shards, Parquet files and their merge.

    out = output_dir(cfg, workdir)                 # workdir/synthetic/<name>/ (workspace.py)
    check_or_record_config(out, meta, lock_name)   # generate_config.json: one config a folder
    write_batch(rows, path, machine)               # batches/batch_<b>.parquet, atomically
    merge(out, formats)                            # synthetic.parquet (+ .jsonl), manifest.json

Batches are fixed by global index (items in prefix-major order, `batch_size` per batch);
shard s of n takes batches b with b % n == s and writes each atomically; a restarted run
skips finished batches; the last finished shard merges them. Every file name comes from
`workspace.SyntheticFiles`.

Each batch records the machine that made it (`machine.machine_record`: CPU capability or GPU,
CPU model, torch, dtype, engine) in its Parquet schema's metadata, written with the batch in
one atomic file; the merge lists the machines in the manifest (`machines`, `mixed_machines`)
and says in one line when batches come from more than one kind of machine. The machine is
not part of the corpus's identity: shards may run anywhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..config import GenerateConfig
from ..errors import UserError
from ..fileio import atomic_path, read_json, write_json, write_jsonl, write_manifest
from ..identity import is_current, read_record
from ..locks import is_locked, lock_file, output_lock
from ..machine import describe
from ..workspace import SyntheticFiles, Workspace
from .loop import SpecialTokens


def parse_shard(text: str) -> tuple[int, int]:
    """(i, n) from the CLI's `--shard i/n`."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must look like i/n (for example 0/4), got '{text}'") from None
    if not 0 <= i < n:
        raise UserError(f"--shard {text}: need 0 <= i < n")
    return i, n


def output_dir(cfg: GenerateConfig, workdir: str | Path) -> Path:
    """The corpus folder: workdir/synthetic/<generate.name>/."""
    return Workspace(workdir).synthetic(cfg.name)


def text_segments(tokenizer, ids: list[int], eos: int | None) -> list[str]:
    """The decoded text (special tokens skipped, stripped) of each EOS-separated part of `ids`,
    empty ones included; nothing after a final EOS (that is the end, not a segment)."""
    parts, cur = [], []
    for t in ids:
        if t == eos:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur or not parts:
        parts.append(cur)
    return [tokenizer.decode(p, skip_special_tokens=True).strip() for p in parts]


def row_segments(
    tokenizer, prefix: list[int], new: list[int], keep_prefix: bool, tokens: SpecialTokens
) -> list[str]:
    """`text_segments` of a row: the prefix (without its BOS) when `keep_prefix`, then the new
    tokens. The BOS is left out so that a BOS that is also EOS (GPT-2) starts no segment."""
    body = prefix[1:] if tokens.bos is not None and prefix[:1] == [tokens.bos] else prefix
    return text_segments(tokenizer, (body if keep_prefix else []) + new, tokens.eos)


def check_shard_layout(out: Path, shard: tuple[int, int]) -> None:
    """Refuse shard `shard` = (s, n) of `out` while a shard of another layout (another n) of
    the same corpus runs: their batches overlap, and one output has one writer. Shards of one
    layout write disjoint batches (`b % n == s`) and run side by side. Call it holding this
    shard's lock and the folder's."""
    s, n = shard
    mine = lock_file(out, f"shard-{s}-of-{n}").name
    for f in sorted(out.parent.glob(lock_file(out, "shard-*").name)):
        other = re.fullmatch(r".*\.shard-(\d+)-of-(\d+)\.lock", f.name)
        if f.name == mine or other is None or int(other.group(2)) == n or not is_locked(f):
            continue
        raise UserError(
            f"{out} is being generated as shard {other.group(1)}/{other.group(2)} by another "
            f"process; shard {s}/{n} would write the same batches. Run the shards of one "
            "corpus with one --shard count, or wait for it to finish"
        )


def check_or_record_config(out: Path, meta: dict, shard_lock: str) -> None:
    """Write `out/generate_config.json`, or check that the one there is this config.

    A folder started with another config is refused when it holds a finished batch or
    another shard of it is running; with neither it holds nothing to lose and is taken over.
    Call it holding the folder's lock."""
    cfg_file = SyntheticFiles(out).config
    old = read_record(cfg_file)  # {} where none was recorded
    if is_current(old, meta["config_hash"]) and old["n_batches"] == meta["n_batches"]:
        return
    started = old and len(missing_batches(out, old["n_batches"])) < old["n_batches"]
    others = [
        f
        for f in out.parent.glob(lock_file(out, "shard-*").name)
        if f.name != lock_file(out, shard_lock).name and is_locked(f)
    ]
    if old and (started or others):
        raise UserError(
            f"{out} holds a corpus made with another config; use another generate.name or "
            "delete the folder"
        )
    write_json(cfg_file, meta)


# the key of a batch's machine record in its Parquet schema metadata
MACHINE_KEY = b"cdsynth.machine"


def write_batch(rows: list[dict], path: Path, machine: dict) -> None:
    """One batch's rows as a Parquet file, written atomically, with the machine that made
    them (`machine.machine_record`) in the schema's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows).replace_schema_metadata(
        {MACHINE_KEY: json.dumps(machine, sort_keys=True)}
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def batch_machine(path: Path) -> dict | None:
    """The machine record of a batch file (None: written before batches recorded one)."""
    import pyarrow.parquet as pq

    return machine_of(pq.read_schema(path).metadata)


def machine_of(schema_metadata: dict | None) -> dict | None:
    """The machine record in a batch's Parquet schema metadata (None where it has none)."""
    raw = (schema_metadata or {}).get(MACHINE_KEY)
    return json.loads(raw) if raw is not None else None


def machine_totals(records: list[dict | None]) -> list[dict]:
    """The distinct machines of a corpus's batches (`records`, one per batch, None where a
    batch recorded none), each with its number of batches, most batches first; batches with
    no record as one entry `{"unrecorded": True, "batches": n}`."""
    counts: dict[str, int] = {}
    for r in records:
        key = json.dumps(r, sort_keys=True)
        counts[key] = counts.get(key, 0) + 1
    out = []
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        record = json.loads(key)
        out.append({**record, "batches": n} if record else {"unrecorded": True, "batches": n})
    return out


def missing_batches(out: Path, n_batches: int) -> list[int]:
    """The batches of `out` (of `n_batches`) that no shard has written yet."""
    files = SyntheticFiles(out)
    return [b for b in range(n_batches) if not files.batch(b).is_file()]


def segment_totals(rows_segments: list[list[str]], empty: list[int]) -> dict:
    """Manifest totals of the EOS-separated segments: how many, how many empty ones were
    dropped, and how many exact duplicates of an earlier segment there are (kept)."""
    flat = [s for segs in rows_segments for s in segs]
    return {
        "segments": len(flat),
        "empty_segments": int(sum(empty)),
        "duplicate_segments": len(flat) - len(set(flat)),
    }


def merge(out: Path, formats=("parquet",), log=print) -> Path:
    """Check that every batch is there and write `synthetic.parquet` (+ .jsonl) and a manifest.
    Shards that finish together (or `cdsynth merge`) merge one at a time."""
    with output_lock(out, wait=True):
        return _merge(out, formats, log)


def _merge(out: Path, formats, log) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = SyntheticFiles(out)
    meta = read_json(files.config)
    missing = missing_batches(out, meta["n_batches"])
    if missing:
        raise UserError(
            f"{out}: {len(missing)} of {meta['n_batches']} batches missing "
            f"(first: {missing[0]}); run the remaining shards"
        )
    batches = [pq.read_table(files.batch(b)) for b in range(meta["n_batches"])]
    machines = machine_totals([machine_of(t.schema.metadata) for t in batches])
    # a batch whose rows all have no segments has list<null>; the machines go to the manifest
    table = pa.concat_tables(batches, promote_options="default").replace_schema_metadata(None)
    recorded = [m for m in machines if not m.get("unrecorded")]
    if "parquet" in formats:
        with atomic_path(files.parquet) as tmp:
            pq.write_table(table, tmp)
    if "jsonl" in formats:
        write_jsonl(files.jsonl, table.to_pylist())
    n_tokens = int(pa.compute.sum(table.column("n_new_tokens")).as_py())
    totals = {
        "rows": table.num_rows,
        "new_tokens": n_tokens,
        "words": int(sum(len(t.split()) for t in table.column("text").to_pylist())),
        "ended_with_eos": int(pa.compute.sum(table.column("ended_with_eos")).as_py()),
    }
    if "segments" in table.column_names:
        totals.update(
            segment_totals(
                table.column("segments").to_pylist(), table.column("empty_segments").to_pylist()
            )
        )
    if "engine" in table.column_names:
        engines = table.column("engine").to_pylist()
        totals["engines"] = {e: engines.count(e) for e in sorted(set(engines))}
    write_manifest(
        out,
        config=meta["config"],
        inputs=meta["inputs"],
        identity=meta["config_hash"],
        totals=totals,
        prefixes=meta.get("prefixes"),
        engine=meta.get("engine"),
        machines=machines,
        mixed_machines=len(recorded) > 1,
    )
    log(
        f"synthetic corpus {out.name}: {totals['rows']} completions, {n_tokens} new tokens "
        f"-> {files.parquet}"
    )
    log(machines_line(out.name, machines))
    return out


def machines_line(name: str, machines: list[dict]) -> str:
    """merge's one line on where a corpus was made (`machines`: `machine_totals`)."""
    recorded = [m for m in machines if not m.get("unrecorded")]
    unrecorded = sum(m["batches"] for m in machines if m.get("unrecorded"))
    parts = [f"{describe(m)} ({m['batches']} batches)" for m in recorded]
    if unrecorded:
        parts.append(f"{unrecorded} batches from before cdsynth recorded machines")
    if len(recorded) > 1:
        return (
            f"synthetic corpus {name}: made on mixed machines ({len(recorded)} kinds): "
            f"{'; '.join(parts)}; tokens may differ from a one-machine run where floats "
            "round differently (docs/method.md, 'The same corpus')"
        )
    return f"synthetic corpus {name}: made on {'; '.join(parts)}"
