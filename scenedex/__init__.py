"""scenedex: the edge of the system. Settings, the command line (``cli`` and its ``cli_*`` parts), the search and
ask services the CLI and the API share, the wiring from settings to typed values (``runtime``), the quiet mode
that keeps library noise off the terminal (``quiet``), and the sample and test media generators (``demo``,
``samples``, ``search_samples``).

Everything below this package (indexer/, search/, qa/, db/, workers/) receives plain typed values.
"""
