"""Run stage: plan a run (profile, parameters, gates), then execute it in a kernel with papermill."""
