"""Parsing policy outputs and rendering tool calls."""
import pytest

from srl_swe.actions import extract_function_calls, format_action, parse_action, render_call
from srl_swe.errors import FormatError
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


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["command", "path", "old_str", "new_str", "file_text"]),
                       st.text().filter(lambda v: "</parameter>" not in v and "</function>" not in v and "<parameter=" not in v)))
def test_any_editor_call_round_trips_through_its_rendering(arguments):
    call = ToolCall("str_replace_editor", arguments)
    assert parse_action(format_action("t", call)).call == call
