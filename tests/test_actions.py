"""Parsing policy outputs and rendering tool calls."""
import random

import pytest

from srl_swe.actions import (
    _FUNCTION_OPEN_RE, _PARAMETER_OPEN_RE, _TOOL_CALL_OPEN_RE, STRICT_FUNCTION_RE, STRICT_PARAMETER_RE, THINK_RE,
    TOOL_CALL_JSON_RE, ParsedAction, _parse_json_call, _strict_blocks, _strip_one_newline, can_still_parse,
    extract_function_calls, format_action, normalize_call, parse_action, render_call,
)
from srl_swe.errors import FormatError
from srl_swe.scaffold import load_scaffold
from srl_swe.steps import StepConfig
from srl_swe.train.data import load_data, step_rows
from srl_swe.trajectory.model import ToolCall

VIEW = ToolCall("str_replace_editor", {"command": "view", "path": "/testbed/a.py", "view_range": [1, 20]})


def test_render_is_canonical_whatever_the_argument_order():
    shuffled = ToolCall("str_replace_editor", {"view_range": [1, 20], "path": "/testbed/a.py", "command": "view"})
    assert render_call(shuffled) == render_call(VIEW)
    assert render_call(VIEW) == (
        "<function=str_replace_editor>\n<parameter=command>view</parameter>\n"
        "<parameter=path>/testbed/a.py</parameter>\n<parameter=view_range>[1, 20]</parameter>\n</function>"
    )


def test_format_action_round_trips():
    parsed = parse_action(format_action("look at a.py", VIEW))
    assert parsed.call == VIEW
    assert parsed.thought == "look at a.py"


def test_text_arguments_get_schema_types_and_aliases_map():
    text = "<think>x</think>\n<function=bash>\n<parameter=command>\nls -la\n</parameter>\n</function>"
    assert parse_action(text).call == ToolCall("execute_bash", {"command": "ls -la"})
    text = "<think>x</think><function=str_replace_editor><parameter=command>view</parameter><parameter=path>/testbed/a.py</parameter><parameter=view_range>[1, 20]</parameter></function>"
    assert parse_action(text).call == VIEW


def test_json_tool_call_form_is_accepted():
    text = '<think>x</think>\n<tool_call>{"name": "str_replace_editor", "arguments": {"command": "view", "path": "/testbed/a.py", "view_range": [1, 20]}}</tool_call>'
    assert parse_action(text).call == VIEW


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<function=execute_bash><parameter=command>ls</parameter></function>", "start with <think>"),
        ("<think>x</think>", "exactly one tool call"),
        ("<think>x</think><function=execute_bash><parameter=command>ls</parameter></function>" * 2, "exactly one"),
        ("<think>x</think><function=execute_bash><parameter=command>ls</parameter></function> and more", "after the tool call"),
        ("<think>x</think>let me list<function=execute_bash><parameter=command>ls</parameter></function>", "between"),
        ("<think>x</think><function=nope><parameter=a>1</parameter></function>", "unknown tool"),
        ("<think>x</think><tool_call>{not json}</tool_call>", "not valid JSON"),
        ("<think>x</think><function=execute_bash><parameter=command>ls</parameter><parameter=command>pwd</parameter></function>", "twice"),
        ("<think>x</think><function=execute_bash>junk<parameter=command>ls</parameter></function>", "unexpected text"),
        ("<think>x<think>y</think></think><function=execute_bash><parameter=command>ls</parameter></function>", "think"),
        # JSON nested deeper than the parser recurses (about 1 KB of brackets): malformed, not a RecursionError
        ("<think>x</think><tool_call>" + '{"a":' * 2000 + "1" + "}" * 2000 + "</tool_call>", "nested too deeply"),
        ('<think>x</think><tool_call>{"name": "execute_bash", "arguments": "' + "[" * 3000 + '"}</tool_call>',
         "not a JSON object"),
    ],
)
def test_malformed_outputs_say_why(text, reason):
    with pytest.raises(FormatError, match=reason):
        parse_action(text)


def test_lenient_extraction_reads_an_unclosed_last_call():
    text = "I am done.\n<function=finish>\n<parameter=message>bye</parameter>\n"
    assert extract_function_calls(text) == [("finish", {"message": "bye"})]


@pytest.mark.parametrize("value", ["x", "", "\n", "\nx", "x\n", "\n\nx\n\n", "a\nb"])
def test_values_with_edge_newlines_survive_a_round_trip(value):
    call = ToolCall("execute_bash", {"command": value})
    assert parse_action(format_action("t", call)).call == call


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


# Markup a value cannot hold: the strict parser also rejects any <think> after the first block
# and counts <tool_call> blocks, wherever they are (a value of "<think>" is a format error).
RESERVED_TAGS = ("</parameter>", "</function>", "<parameter=", "<think>", "</think>", "</tool_call>")


VALUES = st.text().filter(lambda v: not any(tag in v for tag in RESERVED_TAGS))


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({"command": VALUES, "path": VALUES},
                             optional={"old_str": VALUES, "new_str": VALUES, "file_text": VALUES}))
def test_any_editor_call_round_trips_through_its_rendering(arguments):
    call = ToolCall("str_replace_editor", arguments)
    assert parse_action(format_action("t", call)).call == call


# parse_action finds its blocks with str.find (a lazy `.*?` regex steps through the text one
# character at a time). The regex version it replaced is kept here as the reference: both must
# agree on every input, in the parse and in the error message.
import json  # noqa: E402
import re  # noqa: E402



def reference_parse_action(text, scaffold=None):
    """parse_action as it was written with the strict regexes (two passes over the parameters)."""
    if not isinstance(text, str):
        raise FormatError(f"output is {type(text).__name__}, not text")
    scaffold = scaffold or load_scaffold()
    think = THINK_RE.match(text)
    if think is None:
        raise FormatError("output must start with <think>...</think>")
    rest = text[think.end():]
    functions = list(STRICT_FUNCTION_RE.finditer(rest))
    json_calls = list(TOOL_CALL_JSON_RE.finditer(rest))
    if len(functions) + len(json_calls) != 1:
        raise FormatError(f"expected exactly one tool call after </think>, found {len(functions) + len(json_calls)}")
    match = (functions or json_calls)[0]
    if rest[: match.start()].strip():
        raise FormatError("text between </think> and the tool call")
    if rest[match.end():].strip():
        raise FormatError("text after the tool call")
    if "<think>" in rest or "</think>" in rest:
        raise FormatError("more than one <think> block")
    if functions:
        body = match.group(2)
        leftover = STRICT_PARAMETER_RE.sub("", body).strip()
        if leftover:
            raise FormatError(f"unexpected text inside <function=...>: {leftover[:40]!r}")
        name = match.group(1)
        args = {}
        for key, value in STRICT_PARAMETER_RE.findall(body):
            if key in args:
                raise FormatError(f"parameter {key!r} given twice")
            args[key] = _strip_one_newline(value)
    else:
        name, args = _parse_json_call(match.group(1))
    call = normalize_call(name, args, scaffold)
    if call.name not in scaffold.tools:
        raise FormatError(f"unknown tool {call.name!r}")
    missing = [key for key in scaffold.tools[call.name].get("required", []) if key not in call.arguments]
    if missing:
        raise FormatError(f"tool {call.name!r} is missing required parameter(s) {', '.join(map(repr, missing))}")
    return ParsedAction(think.group(1).strip(), call)


def outcome(parse, text):
    try:
        return parse(text)
    except Exception as exc:  # noqa: BLE001 - the kind and the message must match too
        return type(exc).__name__, str(exc)


FRAGMENTS = [
    "<think>", "</think>", "<function=", "</function>", "<parameter=", "</parameter>", "<tool_call>", "</tool_call>",
    "<", ">", "=", "/", "<think", "think>", "function=", "/function>", "parameter", "tool_call>", "execute_bash", "str_replace_editor", "bash", "finish", "nope", "a.b-c", "command", "path",
    "view_range", "message", "view", "ls -la", "[1, 20]", " 7 ", "x", "", " ", "\n", "\t", "\u00a0", "\u2028", "\u3000",
    "<function=execute_bash>", "<parameter=command>", '{"name": "execute_bash", "arguments": {"command": "ls"}}',
    '{"name": "str_replace_editor", "arguments": "{\\"command\\": \\"view\\", \\"path\\": \\"/a\\"}"}', "{", "}", '"',
]
soup = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)


TRICKY = [
    "<think>t</think><function=<function=execute_bash><parameter=command>ls</parameter></function>",
    "<think>t</think><function=execute_bash><parameter=<parameter=command>ls</parameter></function>",
    "<think>t</think><function=execute_bash><parameter=command>ls</parameter><parameter=x></function>",
    "<think>t</think><function=execute_bash>\n<parameter=command>a</parameter>\n<parameter=command>b</parameter></function>",
    "<think>t</think><function=execute_bash><parameter=command>a</parameter><parameter=command>b</parameter>x</function>",
    "<think>t</think><function=execute_bash><parameter=a>1</parameter><parameter=b>2</parameter><parameter=b>3</parameter><parameter=a>4</parameter></function>",
    "<think>t</think><function=execute_bash><parameter=command>ls</parameter></function>\n<tool_call>",
    "<think>t</think><function=execute_bash><parameter=command></parameter>></function>",
    "<think>t</think><function=exec-ute.bash_1><parameter=com-mand.x_1>ls</parameter></function>",
    "<think>t</think><function=execute bash><parameter=command>ls</parameter></function>",
    "<think>t</think><function=><parameter=command>ls</parameter></function>",
    "<think>t</think><function=execute_bash><parameter=command>ls</function></parameter></function>",
    "<think>t</think><tool_call><function=execute_bash><parameter=command>ls</parameter></function></tool_call>",
    "<think>t</think><tool_call><tool_call>{}</tool_call></tool_call>",
    '<think>t</think>\u2028<tool_call>{"name": "bash", "arguments": {"command": "ls"}}</tool_call>\u00a0',
    "<thinkt</think><function=execute_bash><parameter=command>ls</parameter></function>",
    "<think></think><function=execute_bash><parameter=command>ls</parameter></function>",
    "\u3000\n<think>\u2028 t \u00a0</think><function=execute_bash><parameter=command>ls</parameter></function>",
    "<think></think</think><function=execute_bash><parameter=command>ls</parameter></function>",
    "<think><think></think><function=execute_bash><parameter=command>ls</parameter></function>",
    "<think>t</think><function=execute_bash><parameter=command>ls</parameter>" + "junk " * 20 + "</function>",
]


@settings(max_examples=1500, deadline=None)
@given(st.one_of(soup, soup.map(lambda s: "<think>t</think>" + s), soup.map(lambda s: "<think>t</think>\n<function=" + s)))
def test_parse_action_agrees_with_the_regex_reference_on_tag_soup(text):
    assert outcome(parse_action, text) == outcome(reference_parse_action, text)


@pytest.mark.parametrize("text", TRICKY)
def test_parse_action_agrees_with_the_regex_reference_on_edge_cases(text):
    assert outcome(parse_action, text) == outcome(reference_parse_action, text)


@settings(max_examples=500, deadline=None)
@given(st.text(), st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_parse_action_agrees_with_the_regex_reference_on_any_text(a, b):
    for text in (a, "<think>" + a, "<think>" + b + "</think>" + a, f" <think>t</think><function=execute_bash>{a}</function>{b}"):
        assert outcome(parse_action, text) == outcome(reference_parse_action, text)


@settings(max_examples=500, deadline=None)
@given(soup, st.sampled_from([(STRICT_FUNCTION_RE, _FUNCTION_OPEN_RE, "</function>"), (STRICT_PARAMETER_RE, _PARAMETER_OPEN_RE, "</parameter>"),
                              (TOOL_CALL_JSON_RE, _TOOL_CALL_OPEN_RE, "</tool_call>")]))
def test_strict_blocks_are_the_strict_regex_matches(text, kind):
    regex, opening, closing = kind
    expected = [(m.start(), m.end(), m.group(1) if regex.groups == 2 else "", m.group(regex.groups)) for m in regex.finditer(text)]
    assert _strict_blocks(text, opening, closing) == expected


def test_thought_whitespace_is_the_regex_whitespace():
    """parse_action strips with str.lstrip where THINK_RE had `\\s*`: the same characters, all of Unicode."""
    space = re.compile(r"\s")
    assert all(bool(space.match(chr(c))) == chr(c).isspace() for c in range(0x110000))


def test_parse_action_agrees_with_the_regex_reference_on_real_and_damaged_actions():
    from srl_swe.data import default_dataset_path
    from srl_swe.trajectory import load_trajectories

    calls = [t.action for tr in load_trajectories(default_dataset_path()).trajectories for t in tr.actions]
    assert len(calls) > 100
    texts = []
    for i, call in enumerate(calls):
        good = format_action(f"step {i}", call)
        as_json = "<think>t</think>\n<tool_call>" + json.dumps({"name": call.name, "arguments": call.arguments}) + "</tool_call>"
        cut = len(good) * (i % 7 + 1) // 8
        texts += [good, as_json, good[:cut], good[:cut] + good[cut + 1:], good.replace("\n<parameter=", " <parameter=", 1),
                  good.replace("</parameter>\n", "</parameter>x", 1), good + "\n" + good[good.index("<function="):]]
    for text in texts:
        assert outcome(parse_action, text) == outcome(reference_parse_action, text)


PIECES = ["<think>", "</think>", "\n", " ", "x", "<function=", "str_replace_editor", "execute_bash", "bogus", ">", "<",
          "<parameter=", "command", "path", "view", "</parameter>", "</function>", "/testbed/a.py", "<tool_call>",
          '{"name": "execute_bash", "arguments": {"command": "ls"}}', "</tool_call>", "\ufffd"]
ENDINGS = ["", "\n", "</parameter></function>", "</think><function=execute_bash><parameter=command>ls</parameter></function>",
           "<parameter=command>ls</parameter></function>", "view</parameter><parameter=path>/a</parameter></function>",
           '"}}</tool_call>', "</tool_call>", "ls</parameter>\n</function>\n"]


def test_can_still_parse_never_stops_an_expert_action():
    scaffold = load_scaffold("openhands_compact")
    completions = [r["expert_completion"] for r in step_rows(load_data(None), StepConfig(scaffold="openhands_compact"))]
    json_form = '<think>\nlist it\n</think>\n<tool_call>{"name": "execute_bash", "arguments": {"command": "ls"}}</tool_call>\n'
    for text in completions[::3] + [json_form, "  " + json_form]:
        parse_action(text, scaffold)
        assert all(can_still_parse(text[:end], scaffold) for end in range(len(text) + 1)), text


def test_can_still_parse_is_false_only_when_no_continuation_parses():
    rng = random.Random(0)
    stops = 0
    for _ in range(400):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))
        if rng.random() < 0.5:
            text = "<think>" + rng.choice(["", "a", "</think>"]) + text
        for end in range(len(text) + 1):
            if can_still_parse(text[:end]):
                continue
            stops += 1
            for ending in ENDINGS + [text[end:]]:
                with pytest.raises(FormatError):
                    parse_action(text[:end] + ending)
            break
    assert stops > 100  # the fuzz reaches the stopping rules, so the check above has something to check


@pytest.mark.parametrize("output", [
    "I think the bug is in a.py",
    "<think>x</think>\nLet me call the tool",
    "<think>x</think>\n<function>\n<tool>execute_bash</tool>",
    "<think>x</think><function=execute_bash><parameter=command>ls</parameter>\n</function>\n</function>",
    "<think>x</think><function=execute_bash><parameter=command>ls</parameter></function><think>",
    "<think>x</think><function=run_python><parameter=code>1</parameter>",
    "<think>x</think><function=execute_bash>\n```\n",
    "<think>x</think><function=str_replace_editor></function>",
])
def test_degenerate_outputs_stop_at_once(output):
    assert not can_still_parse(output)


def test_unfinished_outputs_can_still_parse():
    for output in ["", "  <thi", "<think>still thinking", "<think>x</think>\n<func", "<think>x</think><function=execute",
                   "<think>x</think><function=execute_bash>\n<parameter=comm", "<think>x</think><function=execute_bash><parameter=command>ls </function",
                   "<think>x</think><tool_call>{\"name\"", "<think>x</think><function=execute_bash>" + ENDINGS[4] + "\n\n"]:
        assert can_still_parse(output), output
