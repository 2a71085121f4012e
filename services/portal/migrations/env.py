from libs.common.messaging import metadata as messaging_metadata
from libs.common.migrations import run_env
from services.portal.db import metadata

run_env([metadata, messaging_metadata])
