"""Wildcards and dynamic prompts, as the sd-dynamic-prompts extension reads them: `{red|green|blue}`,
`{2$$a|b|c}`, `__colors__` (a line of colors.txt in the wildcards folder), drawn by the dynamicprompts library.

Each picture gets its own draw, seeded by its own seed, so a seed and a template always give the same prompt
again; the picture's infotext keeps both, the template on sd-dynamic-prompts' own `Template:` lines.
dynamicprompts leaves a missing wildcard in the prompt as it is and recurses without end on a wildcard that
names itself: both are caught here first and refused, naming the field and the wildcard.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from .errors import InvalidRequest

# `{` opens a variant; `__name__` a wildcard. Anything else is a plain prompt and skips the library entirely.
_SYNTAX = re.compile(r"\{|__[^\s_(][^\s(]*?__")
# a wildcard reference, with sd-dynamic-prompts' optional variables: __name(var=value)__
_REFERENCE = re.compile(r"__([^\s_(][^\s(]*?)(?:\([^)]*\))?__")
_MAX_DEPTH = 20  # wildcards naming wildcards deeper than this are a ring in all but name


def has_syntax(text) -> bool:
    return isinstance(text, str) and bool(_SYNTAX.search(text))


def uses_wildcards(request) -> bool:
    """True when any prompt the request carries is a template to draw from."""
    return any(has_syntax(text) for text, _ in _templates(request))


def file_names(folder: Path | None) -> list[str]:
    """The wildcards the folder has, as a prompt names them (`colors`, `animals/pets`)."""
    if folder is None:
        return []
    return sorted(_manager(folder).get_collection_names())


def per_picture(request, seed: int, subseed: int, folder: Path | None) -> list:
    """One request per picture of the batch, each with its own seed and its prompts drawn with that seed."""
    manager = _manager(folder) if folder is not None else None
    checked: set = set()
    for text, field in _templates(request):
        if has_syntax(text):
            _check_references(text, field, manager, folder, (), checked)
    requests = []
    for i in range(request.batch_size):
        drawn = _drawn(request, seed + i, manager, folder)
        requests.append(dataclasses.replace(
            drawn, seed=seed + i, subseed=subseed + i if subseed >= 0 else subseed, batch_size=1,
            prompt_template=request.prompt if has_syntax(request.prompt) else "",
            negative_template=request.negative_prompt if has_syntax(request.negative_prompt) else "",
        ))
    return requests


def _templates(request):
    """(text, field name) of every prompt in the request: the main ones, the hires pass's, each detailer unit's."""
    yield request.prompt, "prompt"
    yield request.negative_prompt, "negative_prompt"
    if request.hires is not None:
        yield request.hires.prompt, "hr_prompt"
        yield request.hires.negative_prompt, "hr_negative_prompt"
    if request.detailer is not None:
        for i, unit in enumerate(request.detailer.units):
            yield unit.prompt, f"detailer[{i}].ad_prompt"
            yield unit.negative_prompt, f"detailer[{i}].ad_negative_prompt"


def _drawn(request, seed: int, manager, folder):
    draw = lambda text, field: _draw(text, field, seed, manager, folder) if has_syntax(text) else text  # noqa: E731
    drawn = dataclasses.replace(request, prompt=draw(request.prompt, "prompt"),
                                negative_prompt=draw(request.negative_prompt, "negative_prompt"))
    if request.hires is not None:
        drawn.hires = dataclasses.replace(request.hires, prompt=draw(request.hires.prompt, "hr_prompt"),
                                          negative_prompt=draw(request.hires.negative_prompt, "hr_negative_prompt"))
    if request.detailer is not None:
        drawn.detailer = dataclasses.replace(request.detailer, units=[
            dataclasses.replace(unit, prompt=draw(unit.prompt, f"detailer[{i}].ad_prompt"),
                                negative_prompt=draw(unit.negative_prompt, f"detailer[{i}].ad_negative_prompt"))
            for i, unit in enumerate(request.detailer.units)])
    return drawn


def _draw(template: str, field: str, seed: int, manager, folder) -> str:
    from dynamicprompts.generators import RandomPromptGenerator
    from pyparsing import ParseException

    generator = RandomPromptGenerator(wildcard_manager=manager, seed=seed) if manager else RandomPromptGenerator(seed=seed)
    try:
        return str(generator.generate(template, 1)[0])
    except ParseException as error:
        raise InvalidRequest(field, f"cannot read the dynamic prompt near character {error.loc + 1}: a variant is "
                                    f"written {{a|b|c}}, each {{ closed by a }}") from None


def _check_references(text: str, field: str, manager, folder, ring: tuple, checked: set) -> None:
    """Every wildcard the text names, and those their lines name, exists and never names itself again
    (`checked`: the wildcards already walked, so a file named by many lines is read once)."""
    for name in dict.fromkeys(_REFERENCE.findall(text)):
        if name in checked:
            continue
        if name in ring or len(ring) >= _MAX_DEPTH:
            loop = ring[ring.index(name):] if name in ring else ring
            path = " → ".join(f"__{n}__" for n in (*loop, name))
            raise InvalidRequest(field, f"the wildcards form a ring: {path}; a wildcard cannot name itself")
        values = manager.get_values(name) if manager else ()
        if not len(values):
            where = f"in {folder}" if folder else "because no wildcards folder was found (models/wildcards)"
            raise InvalidRequest(field, f"wildcard __{name}__ has no file {where}: add {name}.txt with one choice a line")
        for line in values:
            _check_references(str(line), field, manager, folder, (*ring, name), checked)
        checked.add(name)


def _manager(folder: Path):
    from dynamicprompts.wildcards import WildcardManager

    return WildcardManager(Path(folder))
