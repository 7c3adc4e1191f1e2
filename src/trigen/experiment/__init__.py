"""The top of the measuring stack: ``trigen compare``'s presets and the run that trains, measures,
tests the claims and renders the report (:mod:`trigen.experiment.run`)."""
