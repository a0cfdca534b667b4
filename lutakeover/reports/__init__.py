"""The HTML report of `check --report` and `simulate --report`."""
