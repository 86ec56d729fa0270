"""Generation: a synthetic corpus from GOOD and BAD checkpoints, three reasons to change.

    prefixes.py  prefix choice and token budgets: documents, the paper's seed chunks, how many
    loop.py      the lock-step decoding loop over engines (`generate_batch`)
    shards.py    the corpus on disk: batches, shards, Parquet, merge
    run.py       the stage (`run_generation`) that ties them together

    run_generation(cfg, workdir, shard=(0, 1))                 # sharded, resumable, Parquet
    result = generate_batch(engines, prefixes, keys, rule, new_tokens, seed)

The models themselves run in `cdsynth.engine`; the names below are the package's API.
"""

from ..engine.lean import make_engines
from .loop import OUR_TOKENS, BatchResult, SpecialTokens, generate_batch, left_pad, special_tokens
from .prefixes import (
    choose_documents,
    chunk_text,
    count_tokens,
    encode_prefixes,
    load_prefixes,
    prefix_documents,
    prefixes_needed,
    read_prompt_file,
    real_train_tokens,
    seed_chunks,
    select_prefix_documents,
    stratum_counts,
    work_items,
)
from .run import (
    check_generate_config,
    check_generate_inputs,
    choose_engine,
    resolve_model_path,
    run_generation,
)
from .shards import (
    batch_machine,
    check_or_record_config,
    machine_totals,
    merge,
    missing_batches,
    output_dir,
    parse_shard,
    row_segments,
    segment_totals,
    text_segments,
)

__all__ = [
    "OUR_TOKENS",
    "BatchResult",
    "SpecialTokens",
    "batch_machine",
    "check_generate_config",
    "check_generate_inputs",
    "check_or_record_config",
    "choose_documents",
    "choose_engine",
    "chunk_text",
    "count_tokens",
    "encode_prefixes",
    "generate_batch",
    "left_pad",
    "load_prefixes",
    "machine_totals",
    "make_engines",
    "merge",
    "missing_batches",
    "output_dir",
    "parse_shard",
    "prefix_documents",
    "prefixes_needed",
    "read_prompt_file",
    "real_train_tokens",
    "resolve_model_path",
    "row_segments",
    "run_generation",
    "seed_chunks",
    "segment_totals",
    "select_prefix_documents",
    "special_tokens",
    "stratum_counts",
    "text_segments",
    "work_items",
]
