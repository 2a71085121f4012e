"""Browser tests: a package so that their platform and browser fixtures are package-scoped."""

# Generous waits: under `make test` the platform these pages talk to shares two cores with
# the other test workers, and a page that loads in 0.3 s alone can take 20 s there.
PAGE_TIMEOUT_MS = 60_000
