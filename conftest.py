pytest_plugins = ["libs.common.testing"]
