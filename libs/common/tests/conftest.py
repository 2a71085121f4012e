import pytest

from libs.common.db import Database
from libs.common.messaging import metadata as messaging_metadata


@pytest.fixture
async def db(settings_factory):
    """A database with the outbox and inbox tables, on the parametrised backend."""
    settings = settings_factory()
    database = Database(settings.database_url_for("common"), schema=settings.schema_for("common"))
    async with database.engine.begin() as conn:
        if not database.is_sqlite:
            from sqlalchemy import text

            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"'))
        await conn.run_sync(messaging_metadata.create_all)
    yield database
    await database.dispose()
