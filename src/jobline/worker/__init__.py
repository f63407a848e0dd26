"""Workers: claim inputs from a ``WorkSource``, run model code, report outcomes."""
