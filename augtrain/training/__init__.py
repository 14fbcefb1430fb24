"""Training: config, loop, callbacks, schedules, distributed, and the run folder."""
