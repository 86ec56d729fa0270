"""The built-in story world: a procedural generator of simple children's stories.

Stories have characters, objects, containers and places, and actions that change who
holds what (give, take, put in, take out, swap), with short dialogue. The state is tracked
while writing, so the text is consistent, and the same world yields entity-tracking and
agreement probes (see `cdsynth.evaluate.probes`).

    docs = generate_stories(seed=0, words=100_000)   # deterministic for (seed, words)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

GIRLS = [
    "Mia",
    "Lily",
    "Emma",
    "Sara",
    "Anna",
    "Lucy",
    "Zoe",
    "Ella",
    "Nora",
    "Ruby",
    "Alice",
    "Grace",
    "Chloe",
    "Maya",
    "Rosa",
    "Ivy",
    "Hanna",
    "Julia",
    "Kate",
    "Luna",
]
BOYS = [
    "Tom",
    "Ben",
    "Max",
    "Sam",
    "Leo",
    "Jack",
    "Noah",
    "Finn",
    "Owen",
    "Luke",
    "Adam",
    "Eli",
    "Hugo",
    "Theo",
    "Oscar",
    "Liam",
    "Jonas",
    "Paul",
    "Felix",
    "Milo",
]

OBJECTS = [
    "ball",
    "book",
    "apple",
    "cup",
    "hat",
    "key",
    "toy car",
    "doll",
    "kite",
    "shell",
    "coin",
    "spoon",
    "crayon",
    "sock",
    "bell",
    "map",
    "cookie",
    "flower",
    "feather",
    "stone",
    "ribbon",
    "whistle",
    "candle",
    "brush",
    "drum",
    "balloon",
    "pear",
    "mitten",
    "ring",
    "leaf",
]
CONTAINERS = ["box", "basket", "bag", "jar", "drawer", "bucket", "chest", "bowl", "pocket"]
PLACES = [
    "the park",
    "the garden",
    "the kitchen",
    "the forest",
    "the beach",
    "the farm",
    "the school",
    "the market",
    "the river",
    "the hill",
    "the library",
    "the yard",
]
ADJECTIVES = [
    "red",
    "blue",
    "green",
    "yellow",
    "little",
    "big",
    "shiny",
    "old",
    "new",
    "soft",
    "tiny",
    "pretty",
    "funny",
    "round",
]
ANIMALS = ["dog", "cat", "bird", "rabbit", "duck", "frog", "pony", "mouse", "fox", "bear"]
FEELINGS = ["happy", "sad", "tired", "excited", "surprised", "hungry", "sleepy", "proud", "glad"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "quiet", "bright", "cloudy"]
TIMES = ["morning", "afternoon", "evening", "day"]


@dataclass(frozen=True)
class Lexicon:
    """The entities a story may use."""

    girls: tuple[str, ...]
    boys: tuple[str, ...]
    objects: tuple[str, ...]
    containers: tuple[str, ...]


CORPUS_LEXICON = Lexicon(tuple(GIRLS), tuple(BOYS), tuple(OBJECTS), tuple(CONTAINERS))


def pronoun(name: str, lex: Lexicon) -> tuple[str, str, str]:
    """(subject, object, possessive) pronouns for a character name."""
    return ("she", "her", "her") if name in lex.girls else ("he", "him", "his")


def a(phrase: str) -> str:
    """'a' or 'an' before a noun phrase."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class StoryWriter:
    """Writes one story while tracking who holds which object and what is in which container."""

    def __init__(self, rng: random.Random, lex: Lexicon = CORPUS_LEXICON):
        self.rng = rng
        self.lex = lex
        n = rng.choice([2, 2, 3, 3, 4])
        self.people = rng.sample(list(lex.girls) + list(lex.boys), n)
        k = rng.choice([1, 2, 2, 3])
        self.objects = rng.sample(list(lex.objects), k)
        self.adj = {o: rng.choice(ADJECTIVES) for o in self.objects}
        self.containers = rng.sample(list(lex.containers), rng.choice([1, 2]))
        self.holder: dict[str, str] = {}  # object -> person or container
        self.sentences: list[str] = []

    def say(self, s: str) -> None:
        self.sentences.append(s)

    def the(self, obj: str) -> str:
        return f"the {obj}"

    def opening(self) -> None:
        r = self.rng
        p = self.people
        names = ", ".join(p[:-1]) + f" and {p[-1]}"
        place = r.choice(PLACES)
        self.say(
            r.choice(
                [
                    f"Once upon a time, {names} went to {place}.",
                    f"One {r.choice(WEATHER)} {r.choice(TIMES)}, {names} played in {place}.",
                    f"{names} were friends. They liked to play in {place}.",
                    f"It was a {r.choice(WEATHER)} {r.choice(TIMES)}. {names} were at {place}.",
                ]
            )
        )
        for obj in self.objects:
            who = r.choice(p)
            self.holder[obj] = who
            self.say(
                r.choice(
                    [
                        f"{who} had {a(self.adj[obj])} {obj}.",
                        f"{who} found {a(self.adj[obj])} {obj} on the ground.",
                        f"{who} brought {a(self.adj[obj])} {obj} from home.",
                    ]
                )
            )
        if r.random() < 0.5:
            animal = r.choice(ANIMALS)
            self.say(
                f"{cap(a(animal))} was sitting near them. The {animal} was {r.choice(FEELINGS)}."
            )

    def act(self) -> None:
        r = self.rng
        obj = r.choice(self.objects)
        h = self.holder[obj]
        if h in self.containers:
            who = r.choice(self.people)
            self.holder[obj] = who
            self.say(
                r.choice(
                    [
                        f"{who} opened the {h} and took out the {obj}.",
                        f"{who} took the {obj} out of the {h}.",
                    ]
                )
            )
            return
        giver = h
        choice = r.random()
        if choice < 0.45:
            taker = r.choice([q for q in self.people if q != giver])
            self.holder[obj] = taker
            if r.random() < 0.5:
                self.dialogue(taker, giver, obj)
            sub, _, pos = pronoun(giver, self.lex)
            self.say(
                r.choice(
                    [
                        f"{giver} gave the {obj} to {taker}.",
                        f"{giver} handed {pos} {obj} to {taker}.",
                        f"So {giver} gave {taker} the {obj}.",
                    ]
                )
            )
        elif choice < 0.75:
            box = r.choice(self.containers)
            self.holder[obj] = box
            self.say(
                r.choice(
                    [
                        f"{giver} put the {obj} in the {box}.",
                        f"{giver} placed the {obj} inside the {box}.",
                    ]
                )
            )
        elif choice < 0.9 and len(self.objects) > 1:
            other = r.choice([o for o in self.objects if o != obj])
            h2 = self.holder[other]
            if h2 in self.people and h2 != giver:
                self.holder[obj], self.holder[other] = h2, giver
                self.say(f"{giver} and {h2} swapped the {obj} and the {other}.")
            else:
                self.feeling()
        else:
            taker = r.choice([q for q in self.people if q != giver])
            self.holder[obj] = taker
            self.say(f"{taker} took the {obj} from {giver}.")
            sub, _, _ = pronoun(giver, self.lex)
            self.say(f"{cap(sub)} was {r.choice(['sad', 'surprised', 'not happy'])}.")

    def dialogue(self, asker: str, owner: str, obj: str) -> None:
        r = self.rng
        self.say(
            r.choice(
                [
                    f'"Can I have the {obj}, please?" asked {asker}.',
                    f'"May I play with your {obj}?" asked {asker}.',
                    f'{asker} said, "I like your {obj}. Can I hold it?"',
                ]
            )
        )
        self.say(
            r.choice(
                [
                    f'"Yes, you can," said {owner}.',
                    f'"Of course," said {owner} with a smile.',
                    f'"Okay, but be careful," said {owner}.',
                ]
            )
        )

    def feeling(self) -> None:
        r = self.rng
        who = r.choice(self.people)
        f = r.choice(FEELINGS)
        if r.random() < 0.5:
            self.say(f"{who} was {f}.")
        else:
            others = [q for q in self.people if q != who]
            self.say(f"{who} and {r.choice(others)} were {f}.")

    def recap(self) -> None:
        r = self.rng
        obj = r.choice(self.objects)
        h = self.holder[obj]
        if h in self.containers:
            self.say(f"Now the {obj} is in the {h}.")
        else:
            self.say(r.choice([f"Now {h} has the {obj}.", f"The {obj} is with {h} now."]))

    def ending(self) -> None:
        r = self.rng
        for obj in self.objects:
            if r.random() < 0.6:
                h = self.holder[obj]
                if h in self.containers:
                    self.say(f"In the end, the {obj} was in the {h}.")
                else:
                    self.say(f"In the end, {h} had the {obj}.")
        self.say(
            r.choice(
                [
                    "They all went home and had a good sleep.",
                    "The friends were happy and played together until dinner.",
                    "It was a good day for everyone.",
                    "Then they all went home.",
                ]
            )
        )

    def write(self) -> str:
        self.opening()
        for _ in range(self.rng.randint(3, 9)):
            self.act()
            if self.rng.random() < 0.25:
                self.feeling()
            if self.rng.random() < 0.3:
                self.recap()
        self.ending()
        return " ".join(self.sentences)


def generate_stories(seed: int, words: int, lex: Lexicon = CORPUS_LEXICON) -> list[str]:
    """Stories until about `words` words (whitespace-separated) are written."""
    rng = random.Random(seed)
    docs: list[str] = []
    total = 0
    while total < words:
        text = StoryWriter(rng, lex).write()
        docs.append(text)
        total += text.count(" ") + 1
    return docs
