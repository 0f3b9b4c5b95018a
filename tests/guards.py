"""Hang guards of the tests (s): how long a test waits for a subprocess, or for an event another process makes
happen, before it calls that process hung. Never a timing condition: a healthy run ends far sooner on any
machine; they are set for a machine ten times slower than an idle 2-core one (a loaded CI runner), so that only
a real hang reaches them. pytest-timeout's per-test limit (pyproject.toml) is above them."""

#: one sweep or app run in a subprocess (toy sweeps take seconds; Lightning sweeps about a minute at the most)
SUBPROCESS_S = 600.0
#: one event of another process: a file appearing, a trial claimed, a worker paused
EVENT_S = 300.0
