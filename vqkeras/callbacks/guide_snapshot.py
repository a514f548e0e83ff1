"""`GuideSnapshot` lives with the priors (`vqkeras.priors.guide_snapshot`); this name is kept for old imports."""

from vqkeras.priors.guide_snapshot import GuideSnapshot  # noqa: F401
from vqkeras.priors.guide_snapshot import check_guide_fraction  # noqa: F401
