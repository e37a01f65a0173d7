"""The target search, a subsystem of its own: "lose at most X points, as fast (small) as possible".

`compress()` (core.compress.pipeline) is its front door and routes a target step here; the search runs concrete
recipes through core.compress.apply itself and never calls back up.
"""

from core.compress.search.run import SCORE_IMAGES, SearchResult, check_feasible, search
from core.compress.search.scan import CandidateListener
from core.compress.search.verify import CandidateRow, Verdict, objective_shortfall

__all__ = ["SCORE_IMAGES", "CandidateListener", "CandidateRow", "SearchResult", "Verdict", "check_feasible",
           "objective_shortfall", "search"]
