"""The copy-from-train floor: held-out step k answered with step k of the nearest training trajectory."""
from __future__ import annotations

import dataclasses

from srl_swe.baselines import copy_from_train
from srl_swe.train.data import load_data, select_split


def test_a_trajectory_seen_in_training_is_copied_exactly():
    trajectories = load_data("srl-swe:default")[:6]
    report = copy_from_train(trajectories, trajectories[:2])
    assert report == {"count": 14, "mean_reward": 1.0, "format_rate": 1.0, "tool_match_rate": 1.0}


def test_the_floor_on_the_split_is_below_one_and_a_shorter_neighbour_answers_with_its_last_action():
    trajectories = load_data("srl-swe:default")
    train, heldout = select_split(trajectories, "train", 0.2, 0), select_split(trajectories, "heldout", 0.2, 0)
    report = copy_from_train(train, heldout)
    assert report["count"] == 84 and 0.5 < report["mean_reward"] < 1.0
    short = dataclasses.replace(train[0], turns=train[0].turns[:2])
    assert copy_from_train([short], [train[0]])["count"] == len(train[0].actions)
