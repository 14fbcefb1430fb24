"""Training: config, loop, callbacks, schedules, distributed, writing and reading run folders
(whose layout and file formats are `augtrain.runfolder`'s)."""
