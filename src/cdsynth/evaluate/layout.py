"""Where each task's files are under `evaluate.data_dir`: two layouts, found by looking.

- cdsynth's own (the 2025 layout of ../shared/data): blimp/ blimp_filtered/ blimp_supplement/
  ewok/ entity_tracking/ wug_adj/ reading/ comps/ right under data_dir;
- the BabyLM `evaluation_data` folder as the organisers publish it (2025 and 2026 pipelines):
  data_dir holds full_eval/ and fast_eval/, and `evaluate.eval_set` (full | fast) picks one.
  Its folder names are the pipeline's `--data_path`s (scripts/eval_zero_shot.sh and
  eval_zero_shot_fast.sh): blimp_filtered/ supplement_filtered/ ewok_filtered/ ... in full,
  blimp_fast/ supplement_fast/ ewok_fast(.zip) ... in fast.

Every suite may be a folder of .jsonl files or a .zip of them (`data.read_suite`); for each
task the candidates are tried in order and the first that exists is read, so a suite kept as
the password zip and the same suite as plain JSONL give the same rows (and the same results).

    suite_path("ewok", cfg)      # Path(".../ewok/ewok_filtered.zip")
    published_tasks(cfg)         # the tasks the published set holds: ["blimp_filtered", ...]
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

EVAL_SETS = ("full", "fast")

# task -> (its folder under data_dir, the name the suite has inside it): the suite is read from
# FOLDER/NAME/ or FOLDER/NAME.zip, else from FOLDER/ itself (or FOLDER.zip)
OWN = {
    "blimp": ("blimp", "blimp"),
    "blimp_filtered": ("blimp_filtered", "blimp_filtered"),
    "blimp_supplement": ("blimp_supplement", "blimp_supplement"),
    "ewok": ("ewok", "ewok_filtered"),
    "entity_tracking": ("entity_tracking", "entity_tracking"),
    "comps": ("comps", "comps"),
    "wug": ("wug_adj", "wug_adj"),
    "reading": ("reading", "reading"),
    "aoa": ("cdi_childes", "cdi_childes"),
}
# task -> its folder under full_eval/ and under fast_eval/ (None: that set has no such suite)
PUBLISHED = {
    "blimp_filtered": ("blimp_filtered", "blimp_fast"),
    "blimp_supplement": ("supplement_filtered", "supplement_fast"),
    "ewok": ("ewok_filtered", "ewok_fast"),
    "entity_tracking": ("entity_tracking", "entity_tracking_fast"),
    "comps": ("comps", None),
    "wug": ("wug_adj_nominalization", "wug_adj_nominalization"),
    "reading": ("reading", "reading"),
    # AoA reads the full set's words in either set (the pipeline's eval_aoa.sh default)
    "aoa": ("cdi_childes", "../full_eval/cdi_childes"),
}


def is_published(data_dir: str | Path) -> bool:
    """Whether data_dir is the organisers' `evaluation_data` folder (full_eval/, fast_eval/)."""
    root = Path(data_dir)
    return any((root / f"{s}_eval").is_dir() for s in EVAL_SETS)


def _exists(path: Path) -> Path | None:
    """The suite at `path`: a folder with .jsonl (or .csv/.json for reading and AoA) files, or
    path + ".zip"; None where neither is there."""
    if path.is_dir() and any(p.suffix in (".jsonl", ".csv", ".json") for p in path.iterdir()):
        return path
    zipped = path.with_name(path.name + ".zip")
    return zipped if zipped.is_file() else None


def suite_path(task: str, cfg) -> Path:
    """The folder or zip a task's files are read from, under `cfg.data_dir` (either layout)."""
    root = Path(cfg.data_dir)
    eval_set = str(cfg.eval_set)
    if is_published(root):
        root = root / f"{eval_set}_eval"
        if not root.is_dir():
            raise UserError(f"evaluate.eval_set is {eval_set}, but {root} does not exist")
        folders = PUBLISHED.get(task)
        if folders is None:
            known = ", ".join(published_tasks(cfg)) or "none"
            raise UserError(
                f"the BabyLM evaluation_data folder has no '{task}' suite (tasks found in "
                f"{root}: {known})"
            )
        name = folders[EVAL_SETS.index(eval_set)]
        if name is None:
            raise UserError(
                f"the {eval_set} evaluation set has no '{task}' suite; use evaluate.eval_set full"
            )
        candidates = (name,)
    else:
        if eval_set != "full":
            raise UserError(
                f"evaluate.eval_set {eval_set} needs evaluate.data_dir to be the BabyLM "
                f"evaluation_data folder (with {eval_set}_eval/); {root} has none"
            )
        folder, inner = OWN[task]
        candidates = (f"{folder}/{inner}", folder)
    for c in candidates:
        found = _exists(root / c)
        if found is not None:
            return found
    for c in candidates:  # a folder without data files: its reader says so
        if (root / c).is_dir():
            return root / c
    tried = ", ".join(f"{root / c}/ or {root / c}.zip" for c in candidates)
    raise UserError(f"no {task} data: looked for {tried}")


def published_tasks(cfg) -> list[str]:
    """The tasks whose suites the published folder's chosen set holds (discovered on disk)."""
    root = Path(cfg.data_dir) / f"{cfg.eval_set}_eval"
    i = EVAL_SETS.index(str(cfg.eval_set))
    return [
        task
        for task, folders in PUBLISHED.items()
        if folders[i] is not None and _exists(root / folders[i]) is not None
    ]
