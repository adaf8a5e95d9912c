"""The faust app, its topics and the four agents: triage, dispatch, retry, usage sink."""
