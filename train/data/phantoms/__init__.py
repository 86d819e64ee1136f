"""Procedural phantoms, randomised per seed, in physical units (HU for CT, MR signal, RGB fundus)."""

from ._common import Phantom
from .ct import ct_abdomen, ct_chest, ct_head
from .fundus import fundus_photo
from .mr import mr_brain, mr_breast

#: phantom kind -> factory ``f(seed, n_slices) -> Phantom``
PHANTOM_KINDS = {
    "ct_chest": ct_chest,
    "ct_abdomen": ct_abdomen,
    "ct_head": ct_head,
    "mr_brain": mr_brain,
    "mr_breast": mr_breast,
    "fundus": fundus_photo,
}

__all__ = [
    "PHANTOM_KINDS",
    "Phantom",
    "ct_abdomen",
    "ct_chest",
    "ct_head",
    "fundus_photo",
    "mr_brain",
    "mr_breast",
]
