"""Built-in probes for the demo, written by the story world with held-out entities.

- Agreement minimal pairs (`probes_agreement`): subject-verb agreement in the story world's
  own constructions, e.g. "Wendy has the lantern." vs "Wendy have the lantern.".
- Entity tracking (`probes_tracking`): a short story of moves, then "Now", and one option per
  character ("Victor has the compass."); the true holder is option 0.

Names, objects and containers come from `HELDOUT_LEXICON`, which the demo corpus never uses,
so a model must track the state rather than recall the corpus. Deterministic for a seed.
"""

from __future__ import annotations

import random

from ..storyworld import HELDOUT_LEXICON, StoryWriter, a, cap

AGREEMENT_TEMPLATES = (
    ("{x} has the {o}.", "{x} have the {o}."),
    ("{x} and {y} were happy.", "{x} and {y} was happy."),
    ("The {o} is in the {c}.", "The {o} are in the {c}."),
    ("{x} was sad.", "{x} were sad."),
    ("{x} and {y} have {ao}.", "{x} and {y} has {ao}."),
)


def agreement_pairs(seed: int = 0, n_per_template: int = 40) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    lex = HELDOUT_LEXICON
    people = list(lex.girls + lex.boys)
    groups: dict[str, list[dict]] = {}
    for t, (good, bad) in enumerate(AGREEMENT_TEMPLATES):
        rows = []
        for _ in range(n_per_template):
            x, y = rng.sample(people, 2)
            o, c = rng.choice(lex.objects), rng.choice(lex.containers)
            fill = dict(x=x, y=y, o=o, c=c, ao=a(o))
            rows.append(
                {"sentence_good": cap(good.format(**fill)), "sentence_bad": cap(bad.format(**fill))}
            )
        groups[f"agreement_{t}"] = rows
    return groups


def tracking_items(seed: int = 0, n_items: int = 150, max_ops: int = 4) -> dict[str, list[dict]]:
    """{"storyworld": rows}, rows in the entity-tracking format (correct option first)."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < n_items:
        w = StoryWriter(rng, HELDOUT_LEXICON)
        w.opening()
        numops = rng.randint(0, max_ops)
        for _ in range(numops):
            w.act()
        held = [o for o in w.objects if w.holder[o] in w.people]
        if not held:
            continue
        obj = rng.choice(held)
        truth = w.holder[obj]
        others = [p for p in w.people if p != truth]
        options = [f" {p} has the {obj}." for p in [truth, *others]]
        rows.append(
            {
                "sample_id": len(rows),
                "numops": numops,
                "input_prefix": " ".join(w.sentences) + " Now",
                "options": options,
            }
        )
    return {"storyworld": rows}
