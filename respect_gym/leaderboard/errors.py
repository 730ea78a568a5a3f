"""The one exception type of the leaderboard package."""

from __future__ import annotations


class LeaderboardError(ValueError):
    """A suite, a submission or a leaderboard command is wrong.

    :param problems: one clear message per problem found (``str(error)`` joins them by line).
    """

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
