"""Prompts read as AUTOMATIC1111 reads them: attention, prompt editing, extra-network tags, and warnings.

The expected values are A1111's (the doctests of modules/prompt_parser.py, and what its code gives), so a
prompt copied from A1111 is read here as A1111 reads it.
"""

from __future__ import annotations

import pytest

from pipelines.errors import InvalidRequest
from pipelines.prompt_syntax import (
    NetworkTag,
    check_weights,
    extract_networks,
    parse_attention,
    schedules,
    syntax_warnings,
    text_at_step,
)

# --- attention ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt, fragments", [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)]),
])
def test_attention_reads_a1111s_examples_to_the_last_bit(prompt, fragments):
    assert parse_attention(prompt) == fragments


def test_break_as_a_word_starts_a_new_chunk():
    assert parse_attention("a cat BREAK a dog") == [("a cat", 1.0), ("BREAK", -1.0), ("a dog", 1.0)]
    assert parse_attention("BREAKFAST") == [("BREAKFAST", 1.0)]


def test_attention_details_a1111_has_without_saying():
    assert parse_attention("") == [("", 1.0)]
    assert parse_attention("(a: 1.5 )") == [("a", 1.5)]  # spaces around the weight
    assert parse_attention("[a]") == [("a", 1 / 1.1)]
    assert parse_attention("a) b] c:2)") == [("a) b] c:2)", 1.0)]  # closing nothing: text
    assert parse_attention("C:\\dir") == [("C:dir", 1.0)]  # a backslash that escapes nothing is dropped
    assert parse_attention("a \\\\ b") == [("a \\ b", 1.0)]


def test_an_attention_weight_outside_the_range_is_refused_with_the_field():
    check_weights("a (cat:1.5) and (dog:-10)")
    check_weights("a cat:50)")  # no `(` open: text to A1111, not a weight
    with pytest.raises(InvalidRequest) as error:
        check_weights("a (cat:12)", "negative_prompt")
    assert error.value.field == "negative_prompt"
    assert "(cat:12)" in str(error.value) and "-10 to 10" in str(error.value)


def test_an_attention_weight_that_is_not_a_number_is_refused():
    with pytest.raises(InvalidRequest, match=r"\(cat:1\.2\.3\).*not a number"):
        check_weights("a (cat:1.2.3)")


# --- prompt editing and alternation ---------------------------------------------------------------

ALTERNATING = [(1, "a"), (2, "(b:1.1)"), (3, "a"), (4, "(b:1.1)"), (5, "a"), (6, "(b:1.1)"), (7, "a"),
               (8, "(b:1.1)"), (9, "a"), (10, "(b:1.1)")]


@pytest.mark.parametrize("prompt, schedule", [
    ("test", [(10, "test")]),
    ("a [b:3]", [(3, "a "), (10, "a b")]),
    ("a [b: 3]", [(3, "a "), (10, "a b")]),
    ("a [[[b]]:2]", [(2, "a "), (10, "a [[b]]")]),
    ("[(a:2):3]", [(3, ""), (10, "(a:2)")]),
    ("a [b : c : 1] d", [(1, "a b  d"), (10, "a  c  d")]),
    ("a[b:[c:d:2]:1]e", [(1, "abe"), (2, "ace"), (10, "ade")]),
    ("a [unbalanced", [(10, "a [unbalanced")]),
    ("a [b:.5] c", [(5, "a  c"), (10, "a b c")]),
    ("((a][:b:c [d:3]", [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
    ("[a|(b:1.1)]", ALTERNATING),
    ("[fe|]male", [(step, "female" if step % 2 else "male") for step in range(1, 11)]),
    ("[fe|||]male", [(step, "female" if step % 4 == 1 else "male") for step in range(1, 11)]),
])
def test_schedules_read_a1111s_examples(prompt, schedule):
    assert schedules(prompt, 10) == schedule


def test_a_bracket_the_grammar_cannot_read_leaves_the_prompt_whole():
    # A1111's docstring shows [[5, 'a  c'], [10, 'a {b|d{ c']] for this one, marked "not handling this right
    # now"; its parser gives the prompt whole, because a `|` outside [a|b] is outside its grammar.
    assert schedules("a [{b|d{:.5] c", 10) == [(10, "a [{b|d{:.5] c")]
    assert schedules("a | b [c:3]", 10) == [(10, "a | b [c:3]")]


def test_when_is_a_step_or_with_a_decimal_point_a_fraction_of_the_steps():
    assert schedules("a [b:c:0.25]", 20) == [(5, "a b"), (20, "a c")]
    assert schedules("a [b:c:5]", 20) == [(5, "a b"), (20, "a c")]
    assert schedules("a [b:c:30]", 20) == [(20, "a b")]  # capped at the steps: the switch never comes
    assert schedules("a [b:c:1.5]", 10) == [(10, "a b")]  # 1.5 of 10 steps is 15
    assert schedules("a [b:c:0]", 10) == [(10, "a c")]
    assert schedules("[from::0.5] [:to:0.5]", 10) == [(5, "from "), (10, " to")]


def test_schedules_keep_emphasis_and_tags_as_written():
    assert schedules("(a [cat:dog:2]:1.2) <lora:x:1>", 4) == [(2, "(a cat:1.2) <lora:x:1>"),
                                                              (4, "(a dog:1.2) <lora:x:1>")]


def test_a1111s_step_rule_counts_sampler_steps_from_zero():
    schedule = schedules("a [b:3]", 10)
    assert [text_at_step(schedule, step) for step in range(10)] == ["a "] * 4 + ["a b"] * 6


def test_an_alternation_changes_at_every_step_after_the_first_two():
    schedule = schedules("[a|(b:1.1)]", 10)
    assert [text_at_step(schedule, step) for step in range(5)] == ["a", "a", "(b:1.1)", "a", "(b:1.1)"]


# --- extra-network tags ---------------------------------------------------------------------------


def test_a_lora_weight_applies_to_both_the_text_encoder_and_the_unet():
    text, tags = extract_networks("a cat <lora:a:0.8>, at night")
    assert text == "a cat , at night"
    assert tags == [NetworkTag("lora", "a", 0.8, 0.8, "<lora:a:0.8>")]


@pytest.mark.parametrize("tag, te, unet", [
    ("<lora:a>", 1.0, 1.0),
    ("<lora:a:0.5:0.2>", 0.5, 0.2),  # A1111's order: name, te, unet
    ("<lora:a:te=0.3:unet=0.7>", 0.3, 0.7),
    ("<lora:a:te=0.3>", 0.3, 0.3),  # unet follows te
    ("<lora:a:0.5:te=0.3>", 0.3, 0.3),  # a named weight wins over its position
    ("<lora:a:unet=0.7>", 1.0, 0.7),
])
def test_lora_weights_follow_a1111s_rules(tag, te, unet):
    [found] = extract_networks(tag)[1]
    assert (found.name, found.te_weight, found.unet_weight) == ("a", te, unet)


def test_a_lyco_tag_is_a_lora_and_parameters_not_applied_are_reported():
    [found] = extract_networks("<lyco:b>")[1]
    assert (found.kind, found.name, found.te_weight, found.unet_weight) == ("lyco", "b", 1.0, 1.0)
    [dynamic] = extract_networks("<lora:b:1:1:dyn=8>")[1]
    assert dynamic.ignored == ("dyn=8",)


def test_other_kinds_are_listed_without_weights_and_leave_the_text_too():
    text, tags = extract_networks("a <hypernet:c:1>cat")
    assert text == "a cat"
    assert tags == [NetworkTag("hypernet", "c", None, None, "<hypernet:c:1>")]


def test_several_tags_are_found_in_order():
    text, tags = extract_networks("<lora:a:0.5> a cat <lyco:b:0.2:0.4> <hypernet:c>")
    assert text == " a cat  "
    assert [(t.kind, t.name, t.te_weight, t.unet_weight) for t in tags] == [
        ("lora", "a", 0.5, 0.5), ("lyco", "b", 0.2, 0.4), ("hypernet", "c", None, None)]


@pytest.mark.parametrize("prompt, wrong, allowed", [
    ("a <lora:x:abc>", "not a number", "from -10 to 10"),
    ("a <lora::1>", "name is empty", "<lora:name:weight>"),
    ("a <lora:x:11>", "outside the allowed range", "-10 to 10"),
    ("a <lora:x:1:-12>", "outside the allowed range", "-10 to 10"),
    ("a <lora:x:te=nan>", "outside the allowed range", "-10 to 10"),
])
def test_a_bad_tag_is_refused_naming_the_field_and_the_tag(prompt, wrong, allowed):
    with pytest.raises(InvalidRequest) as error:
        extract_networks(prompt, field="negative_prompt")
    assert error.value.field == "negative_prompt"
    message = str(error.value)
    assert prompt.removeprefix("a ") in message and wrong in message and allowed in message


# --- warnings -------------------------------------------------------------------------------------


def test_a_clean_prompt_and_escaped_brackets_give_no_warning():
    assert syntax_warnings("a (red:1.2) [cat], [dog:fox:0.5], [a|b] <lora:x:1>") == []
    assert syntax_warnings("a \\(literal\\) \\[bracket") == []


def test_unbalanced_brackets_are_named_with_how_a1111_reads_them():
    [unclosed] = syntax_warnings("a (red cat")
    assert unclosed.startswith("unclosed '(' at character 3") and "to the end of the prompt" in unclosed
    round_, square = syntax_warnings("a cat] and dog)")
    assert square.startswith("unmatched ']' at character 6") and "the character itself" in square
    assert round_.startswith("unmatched ')' at character 15")
    assert syntax_warnings("a [cat")[0].startswith("unclosed '['")
    assert syntax_warnings("a cat)")[0].startswith("unmatched ')'")


def test_and_is_reported_as_not_supported():
    [warning] = syntax_warnings("a cat AND a dog")
    assert "AND" in warning and "not supported" in warning
    assert syntax_warnings("ANDROID") == []


def test_prompt_editing_switched_off_by_a_stray_bar_is_reported():
    [warning] = syntax_warnings("a | b [c:3]")
    assert "prompt editing is off" in warning


def test_break_inside_brackets_is_reported_as_no_longer_a_break():
    assert parse_attention("(a BREAK b)") == [("a", 1.1), ("BREAK", -1.1), ("b", 1.1)]
    [warning] = syntax_warnings("(a BREAK b)")
    assert "BREAK" in warning and "not as a new chunk" in warning
    assert syntax_warnings("(a) BREAK [b]") == []
