"""Browser tests: a package so that their platform and browser fixtures are package-scoped."""
