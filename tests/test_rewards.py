"""SRL reward: paper-exact difflib, exact indel (2*LCS/T), structured, and -1 for malformed output."""
import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srl_swe.actions import format_action, parse_action, render_call
from srl_swe.errors import FormatError
from srl_swe.rewards import SRLReward, similarity, srl_reward, srl_reward_func
from srl_swe.trajectory.model import ToolCall

EXPERT = ToolCall("execute_bash", {"command": "grep -rn 'def clamp' /testbed"})
EXPERT_TEXT = render_call(EXPERT)


def lcs(a: str, b: str) -> int:
    row = [0] * (len(b) + 1)
    for ca in a:
        prev = 0
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if ca == cb else max(row[j], row[j - 1])
    return row[-1]


def test_expert_completion_scores_one_under_every_metric():
    for metric in ("difflib", "indel", "structured"):
        assert srl_reward(format_action("t", EXPERT), EXPERT_TEXT, metric=metric) == 1.0


def test_malformed_completion_scores_minus_one():
    assert srl_reward("grep -rn clamp", EXPERT_TEXT) == -1.0
    assert srl_reward(None, EXPERT_TEXT) == -1.0
    assert srl_reward([{"role": "assistant", "content": 3}], EXPERT_TEXT) == -1.0


@pytest.mark.parametrize("a, b", [("abcd", "bcde"), ("", "x"), ("the cat sat", "the hat sat on"), ("a" * 300 + "b", "b" + "a" * 300)])
def test_metrics_match_their_definitions(a, b):
    assert similarity(a, b, "difflib") == difflib.SequenceMatcher(None, a, b).ratio()
    assert similarity(a, b, "indel") == pytest.approx(2 * lcs(a, b) / (len(a) + len(b)))


def test_difflib_autojunk_underestimates_long_actions():
    a = "<parameter=new_str>" + "    x = value + 1\n" * 20
    b = "<parameter=new_str>" + "    x = value - 1\n" * 20
    assert similarity(a, b, "indel") > 0.9
    assert similarity(a, b, "difflib") < similarity(a, b, "indel")


def test_structured_needs_the_same_tool_then_averages_arguments():
    other_tool = ToolCall("str_replace_editor", {"command": "view", "path": "/testbed"})
    assert similarity(other_tool, EXPERT, "structured") == 0.0
    partly = ToolCall("execute_bash", {"command": "grep -rn 'def clamp' /testbed", "timeout": 30})
    assert similarity(partly, EXPERT, "structured") == pytest.approx(0.5)


def test_trl_reward_function_interface():
    completions = [format_action("t", EXPERT), "garbage", [{"role": "assistant", "content": format_action("t", EXPERT)}]]
    expected = [EXPERT_TEXT] * 3
    assert srl_reward_func(prompts=[None] * 3, completions=completions, expert_action=expected) == [1.0, -1.0, 1.0]
    reward = SRLReward(metric="difflib")
    assert reward.__name__ == "srl_difflib"
    assert reward(prompts=[None] * 3, completions=completions, expert_action=expected, trajectory_id=["a"] * 3) == [1.0, -1.0, 1.0]


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown metric"):
        srl_reward("x", EXPERT_TEXT, metric="bleu")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.none(), st.integers(), st.lists(st.dictionaries(st.text(), st.text()))),
       st.sampled_from(["difflib", "indel", "structured"]))
def test_garbage_never_raises(completion, metric):
    assert -1.0 <= srl_reward(completion, EXPERT_TEXT, metric=metric) <= 1.0


tool_text = st.text(alphabet=st.sampled_from(list("<>=/\n abcfunctionparameterthink_{}\"[]")), max_size=200)


@settings(max_examples=300, deadline=None)
@given(tool_text.map(lambda s: "<think>" + s), st.sampled_from(["difflib", "indel", "structured"]))
def test_tag_soup_never_raises(completion, metric):
    assert -1.0 <= srl_reward(completion, EXPERT_TEXT, metric=metric) <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_similarity_is_bounded_and_symmetric_for_indel(a, b):
    s = similarity(a, b, "indel")
    assert 0.0 <= s <= 1.0
    assert s == similarity(b, a, "indel")


def test_a_call_without_its_required_parameters_is_malformed():
    """Found by SRL itself: at lr 5e-5 the policy collapsed onto `<function=str_replace_editor></function>`, which the
    tool cannot run but which shared enough call syntax with every expert action to score ~0.5 whatever the step."""
    empty = "<think>\nLet me look.\n</think>\n<function=str_replace_editor></function>"
    for expert in ("<function=execute_bash>\n<parameter=command>ls /testbed</parameter>\n</function>",
                   "<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/testbed/a.py</parameter>\n</function>"):
        assert srl_reward(empty, expert) == -1.0
    with pytest.raises(FormatError, match="missing required parameter\\(s\\) 'path'"):
        parse_action("<think>\nx\n</think>\n<function=str_replace_editor>\n<parameter=command>view</parameter>\n</function>")
