"""The mutant: the inbox write without its condition, claiming every write is new.

Run in each Lambda environment of a local stack before its handler (``$MAILROOM_LOCAL_PRELOAD``,
set by ``conftest.py`` when ``$MAILROOM_MUTANT`` names this mutant); ``test_mutation_check.py``
expects the fault matrix to fail with it in place.
"""

from __future__ import annotations

from typing import Any

from mailroom.adapters.dynamodb import DynamoInbox, to_item


def unconditional_put(inbox: DynamoInbox, item: Any) -> bool:
    """``put_if_absent`` without its condition."""
    inbox._client.put_item(TableName=inbox._table, Item=to_item(item))
    return True


DynamoInbox.put_if_absent = unconditional_put  # type: ignore[method-assign]
