"""The target search, a subsystem of its own: "lose at most X points, as fast (small) as possible".

`compress()` (core.compress.pipeline) is its front door and routes a target step here; the search runs concrete
recipes itself and never calls back up.
"""

from core.compress.search.run import (
           SCORE_IMAGES,
           CandidateRow,
           SearchResult,
           check_feasible,
           objective_shortfall,
           search,
)
from core.compress.search.scan import CandidateListener

__all__ = ["SCORE_IMAGES", "CandidateListener", "CandidateRow", "SearchResult", "check_feasible",
           "objective_shortfall", "search"]
