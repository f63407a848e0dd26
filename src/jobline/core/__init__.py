"""The rules of jobline, in one place: every front-end (native API, Modzy and JESS dialects,
dashboard, CLI, embedded worker) calls these functions and renders what they return."""
