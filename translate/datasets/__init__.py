"""Data-set builders: turn photo folders, emoji fonts and packaged data into training folders.

Each builder writes atomically (a temporary sibling folder renamed at the end), records how it
was built in ``OUT/metadata.json`` and returns a :class:`BuildSummary`. The command line is
``translate data build KIND ...`` (:mod:`translate.datasets.command`).

    paired sets (translate.data reads them)   OUT/{train,test}/{A,B}/NAME.png
    emoji styles, animal classes              OUT/.../{train,test}/CLASS/NAME.png
"""

from translate.datasets.animals import AnimalOptions, UnsafePickleError, build_animals, load_numpy_pickle
from translate.datasets.common import BuildSummary
from translate.datasets.emoji import STYLES, EmojiOptions, build_emoji
from translate.datasets.photos import PhotoPairOptions, build_edges, build_gray, build_lowres

__all__ = [
    "STYLES",
    "AnimalOptions",
    "BuildSummary",
    "EmojiOptions",
    "PhotoPairOptions",
    "UnsafePickleError",
    "build_animals",
    "build_edges",
    "build_emoji",
    "build_gray",
    "build_lowres",
    "load_numpy_pickle",
]
