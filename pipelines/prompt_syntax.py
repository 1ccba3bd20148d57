"""Prompts read exactly as AUTOMATIC1111's stable-diffusion-webui reads them, in plain Python (no torch).

Four readings, each A1111's (modules/prompt_parser.py, modules/extra_networks.py,
extensions-builtin/Lora/extra_networks_lora.py):
- attention: `(word)` ×1.1, `[word]` ÷1.1, `(word:1.3)`, escapes, `BREAK` (`parse_attention`);
- prompt editing `[from:to:when]` and alternation `[a|b]`: the texts a run encodes, and the steps at
  which they change (`schedules`, `text_at_step`);
- extra-network tags `<lora:name:te:unet>` (`extract_networks`);
- what A1111 accepts without a word but a user should hear about (`syntax_warnings`, `check_weights`).
The results are A1111's to the last bit of the floats, so a prompt copied from A1111 paints the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidRequest

MAX_WEIGHT = 10.0  # A1111 takes any weight; beyond ±10 a picture is noise, so we refuse rather than clamp

# --- attention: (word), [word], (word:1.3), BREAK -------------------------------------------------

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
BREAK = ("BREAK", -1.0)  # the fragment that starts a new 75-token chunk

# The tokens of A1111's re_attention, in its order of preference. Every character falls in one of them.
_ATTENTION_TOKEN = re.compile(r"""
    \\[()\[\]\\]                        # an escaped bracket or backslash: that character, as text
  | \\                                  # any other backslash: A1111 drops it
  | [(\[]                               # an opening bracket
  | :\s*(?P<weight>[+-]?[.\d]+)\s*\)    # the end of (text:weight)
  | [)\]]                               # a closing bracket
  | [^\\()\[\]:]+                       # text
  | :                                   # a colon that closes nothing: text
""", re.VERBOSE)
_BREAK_WORD = re.compile(r"\s*\bBREAK\b\s*", re.DOTALL)


def parse_attention(text: str) -> list[tuple[str, float]]:
    """A1111's parse_prompt_attention: the text as (fragment, weight) pairs, runs of one weight merged.

    `BREAK` as a word gives ("BREAK", -1.0). A bracket left open weights everything after it, to the end.
    A closing bracket with nothing to close, and a colon outside `(text:weight)`, stay in the text.
    A weight such as `(a:1.2.3)` that is not a number raises ValueError, as in A1111 (`check_weights`
    reports it to the user first).
    """
    fragments: list[list] = []  # [text, weight], weights multiplied in place in A1111's order
    open_round: list[int] = []  # where each open bracket's fragments begin
    open_square: list[int] = []

    def multiply_from(start: int, multiplier: float) -> None:
        for fragment in fragments[start:]:
            fragment[1] *= multiplier

    for match in _ATTENTION_TOKEN.finditer(text):
        token, weight = match.group(0), match.group("weight")
        if token.startswith("\\"):
            fragments.append([token[1:], 1.0])
        elif token == "(":
            open_round.append(len(fragments))
        elif token == "[":
            open_square.append(len(fragments))
        elif weight is not None and open_round:
            multiply_from(open_round.pop(), float(weight))
        elif token == ")" and open_round:
            multiply_from(open_round.pop(), ROUND_MULTIPLIER)
        elif token == "]" and open_square:
            multiply_from(open_square.pop(), SQUARE_MULTIPLIER)
        else:
            fragments += _split_at_breaks(token)
    for start in open_round:
        multiply_from(start, ROUND_MULTIPLIER)
    for start in open_square:
        multiply_from(start, SQUARE_MULTIPLIER)
    return _merge_equal_weights(fragments or [["", 1.0]])


def _split_at_breaks(text: str) -> list[list]:
    parts = _BREAK_WORD.split(text)
    fragments = [[parts[0], 1.0]]
    for part in parts[1:]:
        fragments += [list(BREAK), [part, 1.0]]
    return fragments


def _merge_equal_weights(fragments: list[list]) -> list[tuple[str, float]]:
    merged = [fragments[0]]
    for text, weight in fragments[1:]:
        if weight == merged[-1][1]:
            merged[-1][0] += text
        else:
            merged.append([text, weight])
    return [(text, weight) for text, weight in merged]


def check_weights(text: str, field: str = "prompt") -> None:
    """Refuse an attention weight `(text:w)` that is not a number or lies outside -10..10.

    Only the weights A1111 applies count: `a:5)` with no `(` open is text to A1111, and so it is here.
    """
    open_round: list[int] = []  # where each open `(` is in the text, to quote the group
    for match in _ATTENTION_TOKEN.finditer(text):
        token, weight = match.group(0), match.group("weight")
        if token == "(":
            open_round.append(match.start())
        elif open_round and (token == ")" or weight is not None):
            start = open_round.pop()
            if weight is not None:
                _check_attention_weight(text[start:match.end()], weight, field)


def _check_attention_weight(group: str, weight: str, field: str) -> None:
    try:
        value = float(weight)
    except ValueError:
        raise InvalidRequest(field, f"{group}: the weight {weight!r} is not a number; write one from "
                                    f"{-MAX_WEIGHT:g} to {MAX_WEIGHT:g}, such as (word:1.2)") from None
    if not -MAX_WEIGHT <= value <= MAX_WEIGHT:
        raise InvalidRequest(field, f"{group}: the weight {weight} is outside the allowed range "
                                    f"{-MAX_WEIGHT:g} to {MAX_WEIGHT:g}")


# --- prompt editing [from:to:when] and alternation [a|b] ------------------------------------------
#
# A1111 parses with a lark grammar (Earley, ambiguities resolved by lark). This is a recursive-descent
# reading of the same grammar:
#     start:      (prompt | any of "[]():")*
#     prompt:     (emphasized | scheduled | alternate | plain | whitespace)*
#     emphasized: "(" prompt ")" | "(" prompt ":" prompt ")" | "[" prompt "]"
#     scheduled:  "[" [prompt ":"] prompt ":" [whitespace] NUMBER [whitespace] "]"
#     alternate:  "[" prompt ("|" [prompt])+ "]"
#     plain:      (any character but \[]():| , or a backslash and any character but a newline)+
# Inside a prompt the delimiters decide the reading, so a bracket there is read one way or fails. Only at
# the top may a bracket or colon that starts nothing stand as text; there a bracket that reads as a
# construct is read as one (A1111's doctests `a [b:3]` and `((a][:b:c [d:3]`). Where a construct is
# followed straight by a bracket or colon (`[x:3]:`), lark's choice hangs on Python's hash seed, so A1111
# reads it one way or the other from one launch to the next; this always reads the construct.
# A prompt the grammar does not cover (a `|` outside `[a|b]`, a backslash at the end or before a newline)
# is encoded whole, as A1111 encodes it.

# `:when]`, with lark's SIGNED_NUMBER: an integer, a decimal (`3.`, `.5`, `2.5`), either with an exponent
_WHEN = re.compile(r"""
    \s* (?P<number> [+-]? (?: [0-9]+ [eE][+-]?[0-9]+
                           | (?: [0-9]+\.[0-9]* | \.[0-9]+ ) (?: [eE][+-]?[0-9]+ )?
                           | [0-9]+ ) )
    \s* \]
""", re.VERBOSE)
_NOT_PLAIN = set("\\[]():|")


@dataclass(frozen=True)
class _Edit:
    """`[before:after:when]`; before is None for `[after:when]`, whose text before the switch is empty."""

    before: tuple | None
    after: tuple
    when: str  # as written: A1111 reads `3` as a step and `0.5` or `3.0` as a fraction of the steps


@dataclass(frozen=True)
class _Alternation:
    options: tuple  # one per `|`-separated part; a part may be empty (`[fe|]male`)


class _ScheduleParser:
    """The parse of one prompt into text, _Edit and _Alternation nodes; None where the grammar fails."""

    def __init__(self, text: str):
        self.text = text
        self.brackets: dict[int, tuple[list, int] | None] = {}  # bracket reads by position: each is read once

    def parse(self) -> tuple | None:
        text, nodes, position = self.text, [], 0
        while position < len(text):
            read = self.bracket(position) if text[position] in "[(" else None
            if read is not None:
                nodes += read[0]
                position = read[1]
            elif text[position] in "[]():":
                nodes.append(text[position])  # a bracket or colon that starts nothing: text, as in A1111
                position += 1
            else:
                prompt, end = self.prompt(position)
                if end == position:
                    return None  # a `|` outside `[a|b]`, or a backslash that escapes nothing
                nodes += prompt
                position = end
        return _joined(nodes)

    def prompt(self, position: int) -> tuple[list, int]:
        """Read prompt elements from `position` up to the first character that none of them can take."""
        text, nodes = self.text, []
        while position < len(text):
            char = text[position]
            if char in "[(":
                read = self.bracket(position)
                if read is None:
                    break
                nodes += read[0]
                position = read[1]
            elif char == "\\" and position + 1 < len(text) and text[position + 1] != "\n":
                nodes.append(text[position:position + 2])  # kept escaped: attention reads the escape later
                position += 2
            elif char in _NOT_PLAIN:
                break
            else:
                nodes.append(char)
                position += 1
        return nodes, position

    def bracket(self, position: int) -> tuple[list, int] | None:
        if position not in self.brackets:
            self.brackets[position] = (self.round(position) if self.text[position] == "("
                                       else self.square(position))
        return self.brackets[position]

    def round(self, position: int) -> tuple[list, int] | None:
        """`(prompt)` or `(prompt:prompt)`: emphasis, kept as written for the attention parse."""
        inner, end = self.prompt(position + 1)
        if self.at(end, ")"):
            return ["(", *inner, ")"], end + 1
        if self.at(end, ":"):
            second, end = self.prompt(end + 1)
            if self.at(end, ")"):
                return ["(", *inner, ":", *second, ")"], end + 1
        return None

    def square(self, position: int) -> tuple[list, int] | None:
        first, end = self.prompt(position + 1)
        if self.at(end, "]"):
            return ["[", *first, "]"], end + 1  # [word]: emphasis, kept as written
        if self.at(end, "|"):
            return self.alternation(first, end)
        if self.at(end, ":"):
            return self.edit(first, end + 1)
        return None

    def alternation(self, first: list, end: int) -> tuple[list, int] | None:
        options = [first]
        while self.at(end, "|"):
            option, end = self.prompt(end + 1)
            options.append(option)
        if not self.at(end, "]"):
            return None
        return [_Alternation(tuple(_joined(option) for option in options))], end + 1

    def edit(self, first: list, position: int) -> tuple[list, int] | None:
        when = _WHEN.match(self.text, position)
        if when:
            return [_Edit(None, _joined(first), when["number"])], when.end()  # [to:when]
        second, end = self.prompt(position)
        when = _WHEN.match(self.text, end + 1) if self.at(end, ":") else None
        if when:
            return [_Edit(_joined(first), _joined(second), when["number"])], when.end()
        return None

    def at(self, position: int, char: str) -> bool:
        return position < len(self.text) and self.text[position] == char


def _parsed(prompt: str) -> tuple | None:
    try:
        return _ScheduleParser(prompt).parse()
    except RecursionError:  # brackets nested some hundreds deep: no prompt worth the effort
        return None


def _joined(nodes: list) -> tuple:
    """Runs of text joined into one string; _Edit and _Alternation nodes kept between them."""
    joined: list = []
    for node in nodes:
        if isinstance(node, str) and joined and isinstance(joined[-1], str):
            joined[-1] += node
        else:
            joined.append(node)
    return tuple(joined)


def _switch_step(when: str, steps: int) -> int:
    """A1111's step for `when`: with a decimal point a fraction of the steps, else a step; at most `steps`.

    (A1111's current rule; `[b:1.5]` is 15 of 10 steps, so never. Its "old prompt editing timelines"
    compatibility option, which read every number under 1 as a fraction, is not followed.)
    """
    value = float(when) * steps if "." in when else float(when)
    return min(steps, int(value))


def _change_steps(nodes: tuple, steps: int) -> set[int]:
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, _Edit):
            switch = _switch_step(node.when, steps)
            if switch >= 1:
                found.add(switch)
            found |= _change_steps(node.before or (), steps) | _change_steps(node.after, steps)
        elif isinstance(node, _Alternation):
            found |= set(range(1, steps + 1))  # an alternation changes the text at every step
            for option in node.options:
                found |= _change_steps(option, steps)
    return found


def _text_at(nodes: tuple, step: int, steps: int) -> str:
    parts = []
    for node in nodes:
        if isinstance(node, _Edit):
            chosen = (node.before or ()) if step <= _switch_step(node.when, steps) else node.after
            parts.append(_text_at(chosen, step, steps))
        elif isinstance(node, _Alternation):
            parts.append(_text_at(node.options[(step - 1) % len(node.options)], step, steps))
        else:
            parts.append(node)
    return "".join(parts)


def schedules(prompt: str, steps: int) -> list[tuple[int, str]]:
    """A1111's get_learned_conditioning_prompt_schedules for one prompt: (end_at_step, text) pairs.

    Each text is the prompt with its edits and alternations resolved for the steps up to end_at_step
    (emphasis and extra-network syntax are left as written). A prompt the grammar does not cover, or one
    nested too deeply to read, is a single text for all steps, as A1111 makes it.
    """
    nodes = _parsed(prompt)
    if nodes is None:
        return [(steps, prompt)]
    ends = sorted(_change_steps(nodes, steps) | {steps})
    return [(end, _text_at(nodes, end, steps)) for end in ends]


def text_at_step(schedule: list[tuple[int, str]], step_index: int) -> str:
    """The text for sampler step `step_index` (from 0), by A1111's reconstruct_cond_batch rule.

    It is the first entry whose end_at_step is at least step_index, so with `a [b:3]` in 10 steps the steps
    0 to 3 read "a " and 4 to 9 "a b". Past the last entry A1111 falls back to the first, and so does this.
    """
    return next((text for end, text in schedule if step_index <= end), schedule[0][1])


# --- extra-network tags <kind:name:params> ---------------------------------------------------------

_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")  # A1111's re_extra_net
LORA_KINDS = ("lora", "lyco")  # A1111 registers "lyco" as another name of its LoRA network


@dataclass(frozen=True)
class NetworkTag:
    """One `<kind:name:...>` tag. The weights are set for LoRA tags only; other kinds are not applied."""

    kind: str  # as written: "lora", "lyco", "hypernet", ...
    name: str
    te_weight: float | None  # the text encoder's multiplier
    unet_weight: float | None  # the UNet's multiplier
    text: str  # the tag as written, to quote back to the user
    # what is not applied, to tell the user: A1111's dynamic dim (`dyn=`, or the 4th positional), and what
    # A1111 skips too (more positionals, other `key=value`), as written
    ignored: tuple[str, ...] = ()


def extract_networks(prompt: str, field: str = "prompt") -> tuple[str, list[NetworkTag]]:
    """A1111's extra_networks.parse_prompt: the prompt without its tags, and the tags in order.

    Every `<word:...>` tag leaves the text (A1111 removes those of unknown kinds too). LoRA weights follow
    extra_networks_lora.py: `<lora:name:te:unet>` by position or `te=`/`unet=` by name (a name wins);
    te defaults to 1.0 and unet to te. A bad weight or an empty name raises InvalidRequest on `field`.
    """
    tags = [_network_tag(match, field) for match in _NETWORK_TAG.finditer(prompt)]
    return _NETWORK_TAG.sub("", prompt), tags


def _network_tag(match: re.Match, field: str) -> NetworkTag:
    kind, tag = match.group(1), match.group(0)
    items = match.group(2).split(":")
    if kind not in LORA_KINDS:
        return NetworkTag(kind, items[0], None, None, tag)
    positional, named = _split_params(items)
    if not positional or not positional[0].strip():
        raise InvalidRequest(field, f"{tag}: the LoRA name is empty; write <{kind}:name:weight> with the name "
                                    "of a LoRA file")
    te = _lora_weight(tag, positional[1], field) if len(positional) > 1 else 1.0
    te = _lora_weight(tag, named["te"], field) if "te" in named else te
    unet = _lora_weight(tag, positional[2], field) if len(positional) > 2 else te
    unet = _lora_weight(tag, named["unet"], field) if "unet" in named else unet
    ignored = positional[3:] + [f"{key}={value}" for key, value in named.items() if key not in ("te", "unet")]
    return NetworkTag(kind, positional[0], te, unet, tag, tuple(ignored))


def _split_params(items: list[str]) -> tuple[list[str], dict[str, str]]:
    """A1111's ExtraNetworkParams: `key=value` is named; anything else (`a=b=c` too) is positional."""
    positional, named = [], {}
    for item in items:
        parts = item.split("=", 2)
        if len(parts) == 2:
            named[parts[0]] = parts[1]
        else:
            positional.append(item)
    return positional, named


def _lora_weight(tag: str, value: str, field: str) -> float:
    allowed = f"from {-MAX_WEIGHT:g} to {MAX_WEIGHT:g}"
    try:
        weight = float(value)  # Python's float, as A1111 reads it
    except ValueError:
        raise InvalidRequest(field, f"{tag}: the weight {value!r} is not a number; write one {allowed}, "
                                    "such as <lora:name:0.8>") from None
    if not -MAX_WEIGHT <= weight <= MAX_WEIGHT:  # also refuses nan and inf, which float() accepts
        raise InvalidRequest(field, f"{tag}: the weight {value.strip()} is outside the allowed range {allowed}")
    return weight


# --- what A1111 reads without a word --------------------------------------------------------------

_AND = re.compile(r"\bAND\b")  # A1111's separator of composable-diffusion subprompts


def syntax_warnings(prompt: str) -> list[str]:
    """Short notes on what A1111 accepts silently but reads in a way the user may not expect."""
    warnings = _bracket_warnings(prompt)
    if "[" in prompt and _parsed(prompt) is None:
        warnings.append("prompt editing is off: with a '|' outside [a|b], or a '\\' at the end of a line, "
                        "A1111 reads every [...] as it is written")
    if _break_in_brackets(prompt):
        warnings.append("'BREAK' inside brackets is weighted with them, and A1111 then reads it as the word "
                        "BREAK at a negative weight, not as a new chunk")
    if _AND.search(prompt):
        warnings.append("'AND' (A1111's composable diffusion) is not supported: it is read as the word AND")
    return warnings


_BRACKET_READINGS = {
    "(": "A1111 weights everything after it, to the end of the prompt, ×1.1",
    "[": "A1111 weights everything after it, to the end of the prompt, ÷1.1",
    ")": "A1111 reads it as the character itself",
    "]": "A1111 reads it as the character itself",
}


def _bracket_warnings(prompt: str) -> list[str]:
    """Brackets left open or closing nothing, paired as parse_attention pairs them (escapes do not count)."""
    unpaired: dict[str, list[int]] = {"(": [], "[": [], ")": [], "]": []}
    for match in _ATTENTION_TOKEN.finditer(prompt):
        token = match.group(0)
        if token in ("(", "["):
            unpaired[token].append(match.start())
        elif token in (")", "]") or match.group("weight") is not None:
            closing = token[-1]  # `:1.2)` closes a `(` like `)` does
            opening = "(" if closing == ")" else "["
            if unpaired[opening]:
                unpaired[opening].pop()
            else:
                unpaired[closing].append(match.end() - 1)
    return [f"{'unclosed' if bracket in '([' else 'unmatched'} '{bracket}' at character"
            f"{'s' * (len(found) > 1)} {', '.join(str(at + 1) for at in found)}: {_BRACKET_READINGS[bracket]}"
            for bracket, found in unpaired.items() if found]


def _break_in_brackets(prompt: str) -> bool:
    """Whether a BREAK stands where a bracket is open, so that parse_attention multiplies its -1 weight."""
    open_round = open_square = 0
    for match in _ATTENTION_TOKEN.finditer(prompt):
        token = match.group(0)
        if token == "(":
            open_round += 1
        elif token == "[":
            open_square += 1
        elif open_round and (token == ")" or match.group("weight") is not None):
            open_round -= 1
        elif open_square and token == "]":
            open_square -= 1
        elif (open_round or open_square) and _BREAK_WORD.search(token):
            return True
    return False
