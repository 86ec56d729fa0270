"""Built-in probes for the demo, written by the story world in the corpus's own constructions.

- Agreement minimal pairs (`probes_agreement`): subject-verb agreement in sentences the story
  world writes, e.g. "Mia and Tom were happy." vs "Mia and Tom was happy.", singular and
  plural subjects in equal numbers.
- Entity tracking (`probes_tracking`): a fresh story of moves, then "The kite is with", and
  one option per character (" Tom now."); the true holder is option 0. Chance is the mean of
  1 / characters over the items (`tracking_chance`), about 0.38.

Both use the corpus's names and objects in stories drawn from their own random stream: each
story is new (its moves are random, so no holder can be recalled from the corpus), and every
word is one the model has seen. An earlier version used names and objects the corpus never
mentions; a model cannot learn anything about words it has never seen, and those probes sat at
chance however long a model trained (tests/test_probes.py checks the ordering: a model trained
on the story world well above chance, a random model at chance). Deterministic for a seed.
"""

from __future__ import annotations

import random

from ..storyworld import (
    ANIMALS,
    CORPUS_LEXICON,
    FEELINGS,
    PLACES,
    TIMES,
    WEATHER,
    StoryWriter,
    a,
    cap,
    pronoun,
)

# (grammatical, ungrammatical): each grammatical form is one the story world writes, after the
# context it writes it in (scored as whole texts; the shared context adds the same log-prob to
# both), and the pairs differ only in " was" / " were". Singular and plural subjects come in
# equal numbers, so a model that merely prefers one of the two words scores 0.5.
ONCE = "Once upon a time, {x} and {y} went to {p}. "
AGREEMENT_TEMPLATES = (
    ("{x} took the {o} from {y}. {s} was {sad}.", "{x} took the {o} from {y}. {s} were {sad}."),
    (ONCE + "{x} and {y} were {f}.", ONCE + "{x} and {y} was {f}."),
    (
        ONCE + "{an} was sitting near them. The {n} was {f}.",
        ONCE + "{an} was sitting near them. The {n} were {f}.",
    ),
    ("{x} and {y} were friends.", "{x} and {y} was friends."),
    ("It was a {w} {t}.", "It were a {w} {t}."),
    (
        "It was a {w} {t}. {x}, {y} and {z} were at {p}.",
        "It was a {w} {t}. {x}, {y} and {z} was at {p}.",
    ),
)
PROBE_STREAM = 7919  # offsets the probe seed, so probe stories are not the corpus's stories


def agreement_pairs(seed: int = 0, n_per_template: int = 40) -> dict[str, list[dict]]:
    rng = random.Random(PROBE_STREAM + seed)
    lex = CORPUS_LEXICON
    people = list(lex.girls + lex.boys)
    groups: dict[str, list[dict]] = {}
    for t, (good, bad) in enumerate(AGREEMENT_TEMPLATES):
        rows = []
        for _ in range(n_per_template):
            x, y, z = rng.sample(people, 3)
            fill = dict(
                x=x,
                y=y,
                s=cap(pronoun(y, lex)[0]),
                o=rng.choice(lex.objects),
                sad=rng.choice(["sad", "surprised", "not happy"]),
                z=z,
                f=rng.choice(FEELINGS),
                n=(n := rng.choice(ANIMALS)),
                an=cap(a(n)),
                w=rng.choice(WEATHER),
                t=rng.choice(TIMES),
                p=rng.choice(PLACES),
            )
            rows.append({"sentence_good": good.format(**fill), "sentence_bad": bad.format(**fill)})
        groups[f"agreement_{t}"] = rows
    return groups


def tracking_items(seed: int = 0, n_items: int = 150, max_ops: int = 4) -> dict[str, list[dict]]:
    """{"storyworld": rows}, rows in the entity-tracking format (correct option first)."""
    rng = random.Random(PROBE_STREAM + seed)
    rows = []
    while len(rows) < n_items:
        w = StoryWriter(rng, CORPUS_LEXICON)
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
        rows.append(
            {
                "sample_id": len(rows),
                "numops": numops,
                # the story world's own recap: "The kite is with Tom now."
                "input_prefix": " ".join(w.sentences) + f" The {obj} is with",
                "options": [f" {p} now." for p in [truth, *others]],
            }
        )
    return {"storyworld": rows}


def tracking_chance(rows: list[dict]) -> float:
    """The accuracy of guessing one option at random: the mean of 1 / options."""
    return sum(1 / len(r["options"]) for r in rows) / len(rows)
