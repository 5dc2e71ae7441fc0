"""Migration operations the apps share."""

from typing import Any

from django.db.migrations.operations import AddIndex


class AddIndexConcurrently(AddIndex):
    """``AddIndex`` that PostgreSQL builds ``CONCURRENTLY``, elsewhere as usual.

    A plain ``CREATE INDEX`` holds off every insert into its table while it reads the rows:
    on the tables every order writes to (payments, reservations, notifications), checkouts
    would wait through a deploy. Concurrently, writes go on. It cannot run in a transaction:
    its migration sets ``atomic = False`` and holds nothing else.
    """

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **_concurrently(schema_editor))


def _concurrently(schema_editor: Any) -> dict[str, bool]:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
