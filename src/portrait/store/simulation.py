"""What the simulator's closed loop (``portrait.datasets.simulator``) reads back from a workspace
it ran in, beside what the services give it: the person of every registered user, to join the
simulator's ground truth (by user id) to the profiles (by person id).
"""

from __future__ import annotations

import pyarrow as pa

from portrait.store.warehouse import Warehouse


def user_persons(wh: Warehouse) -> pa.Table:
    """user_id, person_id: the person every user id of the identity map belongs to."""
    return wh.arrow(
        "SELECT identifier AS user_id, person_id FROM identity_map WHERE id_kind = 'user'"
    )
