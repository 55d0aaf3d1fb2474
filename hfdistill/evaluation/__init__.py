"""Measuring what the student kept: task metrics computed offline (`metrics`), size and CPU speed (`profiling`), and
the run's report, table and plot (`report`)."""
