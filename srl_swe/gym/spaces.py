"""Gymnasium spaces for text agents: free text actions and chat-message observations."""
from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces

ROLES = ("system", "user", "assistant", "tool")
SAMPLE_LENGTH = 256
_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n\t" + "éßλ中→✓"


class UnicodeText(spaces.Text):
    """A Text space that holds any Python string up to `max_length` characters.

    `gymnasium.spaces.Text` only admits a fixed charset; agent actions and tool outputs
    contain arbitrary Unicode, so membership is a length check. Samples draw from a
    printable charset with a few non-ASCII characters.
    """

    def __init__(self, max_length: int = 1_000_000, *, min_length: int = 0, seed: Any = None):
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string; without an explicit length, at most `SAMPLE_LENGTH` characters long."""
        if mask is None and probability is None:
            length = int(self.np_random.integers(self.min_length, min(self.max_length, self.min_length + SAMPLE_LENGTH) + 1))
            mask = (length, None)
        return super().sample(mask=mask, probability=probability)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"


def chat_messages_space(max_content_length: int = 10_000_000, seed: Any = None) -> spaces.Sequence:
    """A tuple of `{"role", "content"}` messages, the prompt a chat model receives."""
    message = spaces.Dict(
        {
            "role": spaces.Text(max_length=16, min_length=1, charset=string.ascii_lowercase),
            "content": UnicodeText(max_content_length),
        }
    )
    return spaces.Sequence(message, seed=seed)
